/**
 * The system a benchmark measures, all on 127.0.0.1: a real Kamailio (presence in memory, shared memory as asked),
 * presencelb as a child process (SQLite store in the run directory, header identity), an upstream Envoy whose two
 * direct_response listeners are the application servers app-a and app-b, and one Envoy under test per requested
 * variant, each on its own ports and node id, all taking routes and clusters from presencelb over ADS.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { startKamailio, type Kamailio } from '../../test/harness/kamailio.ts';
import { freePorts } from '../../test/harness/ports.ts';
import { loadBaseBootstrap, upstreamBootstrap, usesFlowLog, variantBootstrap, writeBootstrap, type Variant } from './bootstraps.ts';
import { launchEnvoy, type BenchEnvoy } from './envoy.ts';
import { headerIdentity, launchPresencelb, type BenchPresencelb } from './presencelb.ts';
import { sleep } from './stats.ts';

/** DOMAIN is the SIP domain of the benchmark's users. */
export const DOMAIN = 'bench.presencelb.test';

/** StackOptions choose what runs and how. */
export interface StackOptions {
  readonly dir: string;
  readonly variants: readonly Variant[];
  readonly kamailioShmMb: number;
  readonly envoyConcurrency: number;
  /** lifecycle and presence settings of presencelb (merged into its config). */
  readonly lifecycle?: Record<string, number>;
  readonly presence?: Record<string, number>;
  /** xds and extProc settings of presencelb merged into its config (e.g. { pins: 'routes' }). */
  readonly xds?: Record<string, unknown>;
  readonly extProc?: Record<string, unknown>;
  readonly logLevel?: string;
  /** nodeArgs are extra Node arguments for presencelb (e.g. --inspect=127.0.0.1:0). */
  readonly nodeArgs?: readonly string[];
  /** plbNice runs presencelb with nice(1) at this niceness (0: as the benchmark runs). */
  readonly plbNice?: number;
  /** plbSchedIdle runs presencelb with cpu.policy idle (SCHED_IDLE): any other task that wakes preempts it. */
  readonly plbSchedIdle?: boolean;
}

/** UnderTest is one Envoy under test. */
export interface UnderTest {
  readonly variant: Variant;
  readonly envoy: BenchEnvoy;
  readonly url: string;
}

/** BenchStack is the running system. */
export interface BenchStack {
  readonly kamailio: Kamailio;
  readonly kamailioPid: number;
  readonly plb: BenchPresencelb;
  readonly upstream: BenchEnvoy;
  readonly underTest: ReadonlyMap<Variant, UnderTest>;
  readonly extProcPort: number;
  /** notes say how the stack was built (bootstrap base, removed filters, identity config). */
  readonly notes: readonly string[];
  stop(): Promise<void>;
}

/** startStack starts everything and waits until every Envoy under test is LIVE; on failure it stops what started. */
export async function startStack(o: StackOptions): Promise<BenchStack> {
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    started.length = 0;
  };
  try {
    const kamailio = await startKamailio({ shmMb: o.kamailioShmMb });
    started.push(async () => {
      fs.writeFileSync(path.join(o.dir, 'kamailio.log'), kamailio.logs());
      await kamailio.stop();
    });
    const kamailioPid = Number(fs.readFileSync(path.join(kamailio.runDir, 'kamailio.pid'), 'utf8').trim());
    const [xdsPort, extProcPort, upAdmin, upA, upB, ...rest] = await freePorts(5 + 2 * o.variants.length);
    const identity = headerIdentity(o.dir);
    // The variants that write a flow log (usesFlowLog): one file each in the run directory, which presencelb
    // follows and rotates through that Envoy's admin interface.
    const flowLogOf = (i: number) => path.join(o.dir, `flows-${o.variants[i]}.log`);
    const flowLogFiles = o.variants.flatMap((v, i) => (usesFlowLog(v) ? [{ path: flowLogOf(i), envoyAdmin: `http://127.0.0.1:${rest[2 * i]}` }] : []));
    const plb = await launchPresencelb(
      {
        identity: identity.identity,
        extProc: { listen: `127.0.0.1:${extProcPort}`, ...o.extProc, ...(flowLogFiles.length > 0 ? { flowLog: { files: flowLogFiles } } : {}) },
        xds: { listen: `127.0.0.1:${xdsPort}`, ...o.xds },
        presence: { wsUrl: kamailio.wsUrl, domain: DOMAIN, ...o.presence },
        lifecycle: { ...o.lifecycle },
        applicationServers: [
          { name: 'app-a', host: '127.0.0.1', port: upA },
          { name: 'app-b', host: '127.0.0.1', port: upB },
        ],
        store: { client: 'sqlite3', filename: path.join(o.dir, 'presencelb.db') },
        // Any free ports: two benchmarks (or a benchmark and a test) may run on one machine.
        admin: { listen: '127.0.0.1:0' },
        metrics: { listen: '127.0.0.1:0' },
        log: { level: o.logLevel ?? 'info' },
        ...(o.plbSchedIdle ? { cpu: { policy: 'idle' } } : {}),
      },
      { dir: o.dir, nodeArgs: o.nodeArgs ?? [], nice: o.plbNice ?? 0 },
    );
    started.push(() => plb.stop());
    const base = loadBaseBootstrap();
    const upstream = await launchEnvoy({ name: 'envoy-upstream', file: writeBootstrap(o.dir, 'envoy-upstream', upstreamBootstrap(base, upAdmin!, [upA!, upB!])), adminPort: upAdmin!, dir: o.dir, concurrency: 1 });
    started.push(() => upstream.stop());
    const underTest = new Map<Variant, UnderTest>();
    const notes = [`Envoy bootstraps made from ${path.relative(process.cwd(), base.file)}`, `presencelb ${identity.note}`];
    for (const [i, variant] of o.variants.entries()) {
      const admin = rest[2 * i]!;
      const listener = rest[2 * i + 1]!;
      const { doc, removed } = variantBootstrap(base, variant, { admin, listener, xds: xdsPort!, extProc: extProcPort!, ...(usesFlowLog(variant) ? { flowLog: flowLogOf(i) } : {}) }, `bench-${variant}`);
      if (removed.length > 0) notes.push(`${variant}: removed ${removed.join(', ')}`);
      const envoy = await launchEnvoy({ name: `envoy-${variant}`, file: writeBootstrap(o.dir, `envoy-${variant}`, doc), adminPort: admin, dir: o.dir, concurrency: o.envoyConcurrency });
      started.push(() => envoy.stop());
      underTest.set(variant, { variant, envoy, url: `http://127.0.0.1:${listener}/` });
    }
    for (const u of underTest.values()) await u.envoy.waitReady(30000);
    // LIVE may come before the endpoints (EDS) did: wait until both application servers have a healthy host.
    for (const u of underTest.values()) await endpointsHealthy(u.envoy);
    // The stack stops in this order: Envoys, upstream, Kamailio (so presencelb's shutdown does not withdraw
    // thousands of users one SIP transaction at a time), then presencelb.
    const stopKamailio = started[0]!;
    const stopOrder = [...[...underTest.values()].map((u) => () => u.envoy.stop()), () => upstream.stop(), stopKamailio, () => plb.stop()];
    started.length = 0;
    started.push(...stopOrder.reverse());
    return { kamailio, kamailioPid, plb, upstream, underTest, extProcPort: extProcPort!, notes, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** endpointsHealthy waits until the Envoy has a healthy host in both application server clusters. */
async function endpointsHealthy(envoy: BenchEnvoy): Promise<void> {
  const deadline = Date.now() + 20000;
  for (;;) {
    const g = await envoy.counters('membership_healthy').catch(() => ({}) as Record<string, number>);
    if ((g['cluster.app-a.membership_healthy'] ?? 0) >= 1 && (g['cluster.app-b.membership_healthy'] ?? 0) >= 1) return;
    if (Date.now() > deadline) throw new Error(`${envoy.name}: application server clusters have no healthy host after 20 s (${JSON.stringify(g)})`);
    await sleep(200);
  }
}

/** get makes one GET and resolves with the status code. */
export function get(url: string, headers: Record<string, string>, agent?: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: agent ?? false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** WarmUpResult says how long bringing new users in took. */
export interface WarmUpResult {
  readonly users: number;
  /** requestsSec: until every user's first request was answered (the first round). */
  readonly requestsSec: number;
  /** setupSec: until every user was subscribed (or the last round gave up). */
  readonly setupSec: number;
  readonly subscribed: number;
  /** subscribedUsers are the users presencelb subscribed to (the ones a presence change can reach). */
  readonly subscribedUsers: readonly string[];
  /** failed: setup steps (register, notify, subscribe) that failed, over all rounds. */
  readonly failed: number;
  readonly statuses: Record<string, number>;
  /** unseen: users presencelb had not heard of after each round (their request went through untracked). */
  readonly unseen: readonly number[];
  /** notSubscribed: users not subscribed after each round (they get another request in the next round). */
  readonly notSubscribed: readonly number[];
  /** extProc: Envoy's ext_proc counters that moved during the warm-up (failure_mode_allowed, message_timeouts…). */
  readonly extProc: Record<string, number>;
}

/**
 * warmUp sends each user's first request through url (at most `concurrency` at a time) and waits until presencelb
 * has subscribed to every user, so that later phases measure steady state. A user that is not subscribed after a
 * round (its request went through untracked, or a setup step failed and presencelb degraded it until a later flow)
 * gets another request in the next round, for at most `rounds` rounds. A round's wait ends when every user of the
 * round was subscribed or failed, or nothing moved for stallMs.
 */
export async function warmUp(o: { url: string; users: readonly string[]; plb: BenchPresencelb; envoy?: BenchEnvoy; concurrency: number; stallMs?: number; rounds?: number }): Promise<WarmUpResult> {
  const t0 = Date.now();
  const want = new Set(o.users);
  const seen = new Set<string>();
  const subscribedUsers = new Set<string>();
  const failedUsers = new Set<string>();
  let failed = 0;
  const off = o.plb.onLine((l) => {
    if (typeof l.user !== 'string' || !want.has(l.user)) return;
    seen.add(l.user); // any line naming the user: presencelb's ext_proc saw the request
    if (typeof l.event !== 'string') return;
    if (l.event === 'claim.subscribe' && l.ok !== false) subscribedUsers.add(l.user);
    else if (l.ok === false && ['claim.register', 'claim.notify', 'claim.subscribe'].includes(l.event)) {
      failed++;
      failedUsers.add(l.user);
    }
  });
  const before = o.envoy ? await o.envoy.counters('ext_proc') : {};
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const statuses: Record<string, number> = {};
  const unseen: number[] = [];
  const notSubscribed: number[] = [];
  let requestsSec = NaN;
  let todo = [...o.users];
  for (let round = 0; round < (o.rounds ?? 3) && todo.length > 0; round++) {
    if (round > 0) await sleep(2000); // past presencelb's first retry back-off (1 s) for degraded users
    failedUsers.clear();
    let next = 0;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < todo.length) {
          const user = todo[next++]!;
          const s = String(await get(o.url, { 'x-user-id': user }, agent).catch(() => 'error'));
          statuses[s] = (statuses[s] ?? 0) + 1;
        }
      }),
    );
    if (round === 0) requestsSec = (Date.now() - t0) / 1000;
    const resolved = () => todo.filter((u) => subscribedUsers.has(u) || failedUsers.has(u)).length;
    let last = -1;
    let lastChange = Date.now();
    while (resolved() < todo.length) {
      if (resolved() !== last) {
        last = resolved();
        lastChange = Date.now();
      } else if (Date.now() - lastChange > (o.stallMs ?? 30000)) break;
      await sleep(200);
    }
    unseen.push(todo.filter((u) => !seen.has(u)).length);
    todo = o.users.filter((u) => !subscribedUsers.has(u));
    notSubscribed.push(todo.length);
  }
  agent.destroy();
  off();
  const after = o.envoy ? await o.envoy.counters('ext_proc') : {};
  const extProc: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0 && /(failure_mode_allowed|message_timeouts|streams_failed|streams_started|upstream_rq_5xx|overflow)$/.test(k)) extProc[k.replace(/^http\.[^.]+\./, '')] = (extProc[k.replace(/^http\.[^.]+\./, '')] ?? 0) + d;
  }
  return { users: o.users.length, requestsSec, setupSec: (Date.now() - t0) / 1000, subscribed: subscribedUsers.size, subscribedUsers: [...subscribedUsers], failed, statuses, unseen, notSubscribed, extProc };
}
