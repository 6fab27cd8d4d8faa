/**
 * `npm run bench -- flow-log`: presencelb's own CPU per flow in flow-log mode, with nothing else on the machine.
 *
 * In the dataplane benchmark the flow log's throughput against plain Envoy moves with everything that shares the
 * two cores (Envoy, its upstream, wrk) and swings by tens of percent run to run; what presencelb can change is its
 * own CPU per flow, which it spends beside Envoy. This benchmark measures that alone: presencelb follows a flow log
 * that the benchmark itself writes, at a fixed rate, in exactly the lines Envoy writes (flowLogFormat(), keys in
 * Envoy's order), for users presencelb tracks, and reads presencelb's CPU time (every thread, from /proc) over each
 * phase and the drain after it, less what it uses idle. The drain is the span hold (what the phase's last lines
 * cost the main thread comes when the data path releases their spans) and then until presencelb is quiet.
 *
 * What runs: a real Kamailio and presencelb (SQLite in the run directory, header identity, `xds.pins: routes`,
 * `accessLogLagMs: 1500`, presence expiries of 3600 s so that no refresh falls inside the run). No Envoy: nothing
 * connects to presencelb's ext_proc or xDS ports.
 *
 * Warm-up: one line per user (paced), until presencelb has subscribed every user (they are then granted at once,
 * and their flows go through the data path's span hold as in steady state). Then `--repeat` phases of `--phase`
 * seconds at `--rate` lines a second, each line a completed request of a user picked at random (as the dataplane
 * benchmark's wrk script picks them), which ends a few milliseconds after it starts.
 *
 * Options: --users 10000 --rate 8000 --phase 20 --repeat 3 --span-hold-ms (presencelb's extProc.spanHoldMs;
 * its default when unset) --profile (a CPU profile, main and data-path threads, of one more phase before the
 * measured ones).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startKamailio, type Kamailio } from '../test/harness/kamailio.ts';
import { freePorts } from '../test/harness/ports.ts';
import { configSchema } from '../src/config/schema.ts';
import { flowLogFormat } from '../src/dataplane/flow-log.ts';
import { BENCH_IDENTITY } from './lib/bootstraps.ts';
import { cpuSeconds, rssBytes, threadCpu } from './lib/proc.ts';
import { headerIdentity, launchPresencelb, type BenchPresencelb } from './lib/presencelb.ts';
import { profileWindow, renderThreads } from './lib/profile.ts';
import { newUsers, progress, runDir, stopHook, waitQuiet } from './lib/run.ts';
import { DOMAIN } from './lib/stack.ts';
import { fmt, mb, median, sleep, table } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'flow-log'),
  options: {
    users: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '8000' },
    phase: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '3' },
    'span-hold-ms': { type: 'string' },
    'kamailio-shm': { type: 'string', default: '1024' },
    profile: { type: 'boolean', default: false },
  },
});
const USERS = Number(args.users);
const RATE = Number(args.rate);
const PHASE = Number(args.phase);
const REPEAT = Number(args.repeat);
for (const [k, v] of [['users', USERS], ['rate', RATE], ['phase', PHASE], ['repeat', REPEAT]] as const) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be an integer >= 1`);
/** HOLD_MS: presencelb's span hold in this run (its default unless --span-hold-ms says). */
const HOLD_MS = args['span-hold-ms'] !== undefined ? Number(args['span-hold-ms']) : configSchema.parse({}).extProc.spanHoldMs;
if (!Number.isInteger(HOLD_MS) || HOLD_MS < 0) throw new Error('--span-hold-ms must be an integer >= 0');
/** HELD_DRAIN_MS: a phase's drain before any wait for quiet: the hold releases the phase's last lines by then. */
const HELD_DRAIN_MS = HOLD_MS + 500;
/** PROFILE_DRAIN_MS: the fixed drain a profiled phase's window takes in: the hold and 3 s. */
const PROFILE_DRAIN_MS = HOLD_MS + 3000;

/** The application servers' addresses as Envoy would log them (nothing listens there: presencelb never connects). */
const SERVERS = [
  { name: 'app-a', host: '127.0.0.1', port: 18081 },
  { name: 'app-b', host: '127.0.0.1', port: 18082 },
] as const;

/** KEYS: flowLogFormat()'s keys in the order Envoy writes a json_format entry (sorted). */
const KEYS = Object.keys(flowLogFormat(BENCH_IDENTITY)).sort();

/** line is one flow log entry as Envoy writes it: a request of `user` to its server, ended `durationMs` after startMs. */
function line(user: string, server: (typeof SERVERS)[number], startMs: number, durationMs: number): string {
  const v: Record<string, string | number> = {
    cluster: server.name,
    duration_ms: durationMs,
    flags: '-',
    request_id: randomUUID(),
    start: (startMs / 1000).toFixed(3),
    type: 'DownstreamEnd',
    upstream: `${server.host}:${server.port}`,
    user,
  };
  const out: Record<string, string | number> = {};
  for (const k of KEYS) {
    if (!(k in v)) throw new Error(`flow-log bench: flowLogFormat() has a field ${k} this benchmark does not write`);
    out[k] = v[k]!;
  }
  return JSON.stringify(out);
}

/**
 * writeAt appends lines to file at `rate` a second for `seconds` (in slices every 10 ms, as Envoy's flush thread
 * writes every 50 ms), each from pick(); it resolves with how many it wrote.
 */
async function writeAt(file: string, rate: number, seconds: number, pick: (n: number) => string): Promise<number> {
  const fd = fs.openSync(file, 'a');
  const t0 = performance.now();
  let written = 0;
  try {
    for (;;) {
      const elapsed = (performance.now() - t0) / 1000;
      const due = Math.min(Math.floor(rate * elapsed), Math.round(rate * seconds));
      if (due > written) {
        let chunk = '';
        for (; written < due; written++) chunk += `${pick(written)}\n`;
        fs.writeSync(fd, chunk);
      }
      if (elapsed >= seconds) return written;
      await sleep(10);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * byThread is the CPU seconds each thread used between two readings: the main thread, then the others by name and
 * thread id (Node names none of its threads: the data path's worker, V8's helpers and libuv's pool, where SQLite
 * runs, are all "node"; the data path's is the busiest of them).
 */
function byThread(pid: number, a: ReturnType<typeof threadCpu>, b: ReturnType<typeof threadCpu>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, t] of b) {
    const name = tid === pid ? 'main' : `${t.comm}/${tid}`;
    out[name] = (out[name] ?? 0) + t.seconds - (a.get(tid)?.seconds ?? 0);
  }
  return out;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

interface Phase {
  readonly lines: number;
  readonly writeSec: number;
  readonly drainSec: number;
  /** cpuSec: presencelb's CPU over the phase and its drain (its threads' sum), less its idle CPU over that time. */
  readonly cpuSec: number;
  readonly threads: Record<string, number>;
  readonly rssBytes: number;
}

async function main(): Promise<void> {
  const dir = runDir('flow-log');
  progress(`run directory ${dir}; ${USERS} users, ${REPEAT} phases of ${PHASE} s at ${RATE} lines/s`);
  let kamailio: Kamailio | null = null;
  let plb: BenchPresencelb | null = null;
  const stop = stopHook(async () => {
    // Kamailio first, so that presencelb's shutdown does not withdraw every user one SIP transaction at a time.
    await kamailio?.stop();
    await plb?.stop();
  });
  try {
    kamailio = await startKamailio({ shmMb: Number(args['kamailio-shm']) });
    const [xdsPort, extProcPort] = await freePorts(2);
    const flowLog = path.join(dir, 'flows.log');
    fs.writeFileSync(flowLog, '');
    const identity = headerIdentity(dir);
    plb = await launchPresencelb(
      {
        identity: identity.identity,
        extProc: {
          listen: `127.0.0.1:${extProcPort}`,
          accessLogLagMs: 1500,
          flowLog: { files: [{ path: flowLog }] },
          spanHoldMs: HOLD_MS,
        },
        xds: { listen: `127.0.0.1:${xdsPort}`, pins: 'routes' },
        presence: { wsUrl: kamailio.wsUrl, domain: DOMAIN, registerExpiresSec: 3600, publishExpiresSec: 3600, subscribeExpiresSec: 3600 },
        lifecycle: { reconnectWindowMs: 3600000, flowRetentionMs: 7200000 },
        applicationServers: SERVERS.map((s) => ({ ...s })),
        store: { client: 'sqlite3', filename: path.join(dir, 'presencelb.db') },
        admin: { listen: '127.0.0.1:0' },
        metrics: { listen: '127.0.0.1:0' },
        log: { level: 'info' },
      },
      { dir, nodeArgs: args.profile ? ['--inspect=127.0.0.1:0'] : [] },
    );
    const p = plb;
    progress(`presencelb ${identity.note}; pid ${p.pid}`);

    // Warm-up: each user's first request, paced, until presencelb has subscribed every user.
    const users = newUsers(USERS);
    const serverOf = (i: number) => SERVERS[i % 2]!;
    const subscribed = new Set<string>();
    const off = p.onLine((l) => {
      if (l.event === 'claim.subscribe' && l.ok !== false && typeof l.user === 'string') subscribed.add(l.user);
    });
    const w0 = Date.now();
    await writeAt(flowLog, 1000, USERS / 1000, (n) => line(users[n]!, serverOf(n), Date.now() - 3, 3));
    let last = -1;
    let lastChange = Date.now();
    while (subscribed.size < USERS && Date.now() - lastChange < 30000) {
      if (subscribed.size !== last) [last, lastChange] = [subscribed.size, Date.now()];
      await sleep(200);
    }
    off();
    p.assertAlive('during the warm-up');
    const tracked = users.flatMap((u, i) => (subscribed.has(u) ? [[u, i] as const] : []));
    progress(`warm-up: ${subscribed.size} of ${USERS} users subscribed in ${fmt((Date.now() - w0) / 1000)} s`);
    if (tracked.length === 0) throw new Error('no user was subscribed: see presencelb.log in the run directory');
    await waitQuiet(p.pid, { share: 0.03, windowMs: 2000, maxMs: 120000 });
    // The warm-up's last store batches and presence answers settle after that: wait a little longer.
    await sleep(5000);

    // presencelb's CPU when nothing comes (timers, the tail's polls): subtracted from each phase.
    const i0 = cpuSeconds(p.pid);
    const it0 = Date.now();
    await sleep(10000);
    const idlePerSec = (cpuSeconds(p.pid) - i0) / ((Date.now() - it0) / 1000);
    progress(`idle: ${fmt(idlePerSec * 1000, 1)} ms of CPU a second`);

    const pick = (): string => {
      const [user, i] = tracked[Math.floor(Math.random() * tracked.length)]!;
      return line(user, serverOf(i), Date.now() - 2, 2);
    };
    let profileText = '';
    if (args.profile && p.inspectorUrl) {
      // A phase of its own, not measured: the profiler's sampling costs presencelb CPU too, and keeps it from
      // looking quiet, so the window takes in a fixed drain: the span hold and 3 s.
      const window = await profileWindow(p.inspectorUrl, async () => {
        const n = await writeAt(flowLog, RATE, PHASE, pick);
        await sleep(PROFILE_DRAIN_MS);
        return n;
      });
      profileText = renderThreads(window, dir, 'presencelb-flow-log');
      await waitQuiet(p.pid, { share: 0.05, windowMs: 1000, maxMs: 120000 });
      progress('profiled phase done (not measured)');
    }
    const phases: Phase[] = [];
    for (let rep = 1; rep <= REPEAT; rep++) {
      const t0 = Date.now();
      const th0 = threadCpu(p.pid);
      const lines = await writeAt(flowLog, RATE, PHASE, pick);
      const writeSec = (Date.now() - t0) / 1000;
      // The drain takes in the span hold first: what the phase's last lines cost the main thread (their spans, the
      // store's rows) comes when the hold releases them, up to HOLD_MS after the last line, which a quiet window
      // alone could miss.
      await sleep(HELD_DRAIN_MS);
      const drainSec = HELD_DRAIN_MS / 1000 + (await waitQuiet(p.pid, { share: 0.05, windowMs: 1000, maxMs: 120000 }));
      const wall = (Date.now() - t0) / 1000;
      const threads = byThread(p.pid, th0, threadCpu(p.pid));
      const cpuSec = sum(Object.values(threads)) - idlePerSec * wall;
      p.assertAlive(`in phase ${rep}`);
      const ph: Phase = { lines, writeSec, drainSec, cpuSec, threads, rssBytes: rssBytes(p.pid) };
      phases.push(ph);
      progress(`phase ${rep}: ${lines} lines in ${fmt(writeSec)} s, drain ${fmt(drainSec)} s, presencelb ${fmt((1e6 * cpuSec) / lines, 2)} ms CPU per 1,000 lines (${Object.entries(threads).filter(([, s]) => s > 0).map(([k, s]) => `${k} ${fmt(s, 2)}`).join(', ')} s)`);
    }

    const perK = phases.map((ph) => (1e6 * ph.cpuSec) / ph.lines);
    const names = [...new Set(phases.flatMap((ph) => Object.keys(ph.threads)))].filter((n) => phases.some((ph) => ph.threads[n]! >= 0.05));
    const out: string[] = [];
    out.push(`=== flow-log: presencelb alone, following a flow log written at ${RATE} lines/s for ${PHASE} s, ${tracked.length} tracked users`);
    out.push(`presencelb CPU (every thread, less idle ${fmt(idlePerSec * 1000, 1)} ms/s) per 1,000 lines: median ${fmt(median(perK), 2)} ms (each: ${perK.map((x) => fmt(x, 2)).join(' ')})`);
    out.push(`= ${fmt(median(perK), 1)} µs per flow; at ${RATE} flows/s that is ${fmt((median(perK) * RATE) / 1e6, 2)} of a core`);
    const raw = phases.map((ph) => (1e6 * sum(Object.values(ph.threads))) / ph.lines);
    out.push(`the same without the idle CPU subtracted (the sum of the threads below): median ${fmt(median(raw), 2)} ms per 1,000 lines (each: ${raw.map((x) => fmt(x, 2)).join(' ')})`);
    out.push('', 'by thread (CPU seconds over the phase and its drain; "main" is the lifecycle, presence and store; the data path runs in a worker thread, the busiest "node"):');
    out.push(table([['phase', 'lines', 'drain s', 'RSS MiB', ...names], ...phases.map((ph, i) => [String(i + 1), String(ph.lines), fmt(ph.drainSec), mb(ph.rssBytes), ...names.map((n) => fmt(ph.threads[n] ?? 0, 2))])]));
    out.push(`config: extProc.spanHoldMs ${HOLD_MS}${args['span-hold-ms'] === undefined ? ' (the default)' : ''}; warnings ${JSON.stringify(p.problems())}`);
    if (profileText) out.push('', `profile of a phase before the measured ones, and ${fmt(PROFILE_DRAIN_MS / 1000)} s after it (the hold and 3 s):\n${profileText}`);
    out.push('', `run directory: ${dir}`);
    process.stdout.write(`\n${out.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ args, users: USERS, tracked: tracked.length, idlePerSec, phases, perThousandLines: perK, median: median(perK) }, null, 2));
  } finally {
    await stop();
  }
}

await main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`flow-log benchmark failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
