/**
 * NOTIFY to route update in force in Envoy (issue 4), with a real Envoy, a real Kamailio and presencelb as shipped.
 *
 * --users users are tracked (each brought in through Envoy: register, publish, subscribe); --pinned of them are
 * active (an open flow and a registered device) and get a presence change first, so that many users are pinned
 * when the measurement starts; then --changes more active users get a presence change each, at --rate per second,
 * and each of those changes is timed:
 *   NOTIFY -> update in force   from presencelb receiving the NOTIFY to the update being in force in Envoy:
 *                               xds.pins header: the route_update step (the pin table ext_proc reads on the user's
 *                               next request; the steering routes are already in Envoy, ACKed at start-up);
 *                               xds.pins routes: Envoy's ACK of the route configuration carrying the pin (the first
 *                               RDS ACK logged after the route_update step);
 *   NOTIFY -> steered request   from the NOTIFY to the answer of a request the benchmark sends through Envoy as the
 *                               user as soon as it reads the route_update line (the answering server must be the
 *                               pinned one; an upper bound: it includes reading presencelb's log and one HTTP
 *                               round trip).
 * presencelb logs at debug level in routes mode (its ACK lines are debug), at info in header mode.
 *
 *   npm run bench -- xds-notify [--users 10000] [--pinned 1000] [--changes 200] [--rate 20] [--pins header|routes]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import type { LogLine } from './lib/presencelb.ts';
import { openFlows } from './lib/ext-proc-flows.ts';
import { newUsers, progress, runDir, stopHook, waitMachineQuiet, waitQuiet } from './lib/run.ts';
import { startSipLoad, type SipLoad } from './lib/sip-load.ts';
import { DOMAIN, startStack, warmUp, type BenchStack } from './lib/stack.ts';
import { fmt, summarize, table } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'xds-notify'),
  options: {
    users: { type: 'string', default: '10000' },
    pinned: { type: 'string', default: '1000' },
    changes: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    pins: { type: 'string', default: 'header' },
    'kamailio-shm': { type: 'string', default: '1024' },
    'warmup-concurrency': { type: 'string', default: '32' },
    'grace-ms': { type: 'string', default: '2000' },
    'quiet-wait': { type: 'string', default: '30' },
  },
});
const USERS = Number(args.users);
const PINNED = Number(args.pinned);
const CHANGES = Number(args.changes);
const PINS = args.pins as 'header' | 'routes';
if (PINS !== 'header' && PINS !== 'routes') throw new Error(`--pins must be header or routes, not '${args.pins}'`);
if (PINNED + CHANGES > USERS) throw new Error('--pinned plus --changes must not exceed --users');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = (l: LogLine) => Date.parse(l.time);

/** Change is what the benchmark saw of one measured user's presence change. */
interface Change {
  notifyAt?: number;
  routeUpdateAt?: number;
  version?: string;
  appServer?: string;
  inForceAt?: number;
  steeredAt?: number;
  steeredTo?: string;
  /** pinHeader is the x-presencelb-pin value the application server received with the probe. */
  pinHeader?: string | null;
}

/** probe sends one request through Envoy as the user and resolves with the server that answered and when. */
function probe(url: string, user: string, agent: http.Agent): Promise<{ server: string | null; pin: string | null; at: number }> {
  return new Promise((resolve) => {
    const req = http.get(`${url}probe`, { headers: { 'x-user-id': user }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ server: String(res.headers['x-app-server'] ?? '') || null, pin: String(res.headers['x-presencelb-pin'] ?? '') || null, at: Date.now() }));
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ server: null, pin: null, at: Date.now() }));
  });
}

/** bringIn warms users up and gives `active` of them a registered device and a held flow on a known server. */
async function bringIn(stack: BenchStack, sip: SipLoad, url: string, active: number) {
  const warm = await warmUp({ url, users: newUsers(USERS), plb: stack.plb, envoy: stack.underTest.get('blocking')!.envoy, concurrency: Number(args['warmup-concurrency']) });
  const users = [...warm.subscribedUsers];
  progress(`warm-up: ${warm.subscribed} of ${USERS} users subscribed in ${fmt(warm.setupSec)} s (failed steps ${warm.failed})`);
  if (users.length < active) throw new Error(`only ${users.length} users subscribed; ${active} active ones are needed`);
  const actives = users.slice(0, active);
  const reg = await sip.register(actives, 100);
  progress(`${actives.length} devices registered in ${fmt(reg.seconds)} s ${JSON.stringify(reg.statuses)}`);
  const serverOf = (i: number) => (i % 2 === 0 ? 'app-a' : 'app-b');
  const flows = await openFlows(stack.extProcPort, actives, serverOf);
  progress(`${flows.granted} long-lived flows open through ext_proc (failed ${flows.failed})`);
  return { actives, expected: new Map(actives.map((u, i) => [u, serverOf(i)])), flows };
}

async function main(): Promise<void> {
  const dir = runDir('xds-notify');
  progress(`run directory ${dir}; xds.pins ${PINS}; ${USERS} tracked, ${PINNED} pinned first, ${CHANGES} measured changes at ${args.rate}/s`);
  let stack: BenchStack | null = null;
  let sip: SipLoad | null = null;
  const stop = stopHook(async () => {
    await sip?.stop();
    if (stack) await stack.stop();
  });
  try {
    stack = await startStack({
      dir,
      variants: ['blocking'],
      kamailioShmMb: Number(args['kamailio-shm']),
      envoyConcurrency: 1,
      logLevel: PINS === 'routes' ? 'debug' : 'info',
      xds: { pins: PINS },
      lifecycle: { graceMs: Number(args['grace-ms']), reconnectWindowMs: 3600000, flowRetentionMs: 7200000 },
      presence: { registerExpiresSec: 3600, publishExpiresSec: 3600, subscribeExpiresSec: 3600 },
    });
    const s = stack;
    const url = s.underTest.get('blocking')!.url;
    sip = await startSipLoad(s.kamailio.wsUrl, DOMAIN);
    const { actives, expected, flows } = await bringIn(s, sip, url, PINNED + CHANGES);
    const background = actives.slice(0, PINNED);
    const measured = actives.slice(PINNED);

    // The background pins: PINNED users pinned before the measurement.
    await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 1000, maxMs: 300000 });
    await sleep(Number(args['grace-ms']) + 1000);
    const pinnedBefore = s.plb.count('route_update');
    await sip.publish(background, 200, 'closed');
    const deadline = Date.now() + 120000;
    while (s.plb.count('route_update') - pinnedBefore < background.length && Date.now() < deadline) await sleep(250);
    const pinnedNow = s.plb.count('route_update') - pinnedBefore;
    progress(`${pinnedNow} of ${background.length} background users pinned`);

    // The measured changes.
    const changes = new Map(measured.map((u) => [u, {} as Change]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const probes: Promise<void>[] = [];
    const pendingAck: Change[] = [];
    const off = s.plb.onLine((l) => {
      if (PINS === 'routes' && l.msg === 'ACK' && l.kind === 'RDS') {
        for (const c of pendingAck.splice(0)) c.inForceAt = at(l);
        return;
      }
      if (typeof l.user !== 'string') return;
      const c = changes.get(l.user);
      if (!c) return;
      if (l.event === 'claim.receive_notification' && (l.kind === 'changed' || l.kind === 'terminated')) c.notifyAt ??= Number(l.receivedAt);
      if (l.event === 'claim.route_update' && l.ok !== false && c.routeUpdateAt === undefined) {
        c.routeUpdateAt = at(l);
        c.version = String(l.version);
        c.appServer = String(l.appServer);
        if (PINS === 'header') c.inForceAt = c.routeUpdateAt;
        else pendingAck.push(c);
        const user = l.user;
        probes.push(
          probe(url, user, agent).then((p) => {
            c.steeredAt = p.at;
            c.steeredTo = p.server ?? 'error';
            c.pinHeader = p.pin;
          }),
        );
      }
    });
    await waitMachineQuiet(Number(args['quiet-wait']));
    progress(`publishing ${measured.length} changes at ${args.rate}/s with ${pinnedNow} users pinned`);
    await sip.publish(measured, Number(args.rate), 'closed');
    const end = Date.now() + 30000;
    while ([...changes.values()].some((c) => c.steeredAt === undefined || c.inForceAt === undefined) && Date.now() < end) await sleep(200);
    await Promise.all(probes);
    off();
    agent.destroy();
    flows.close();

    const list = [...changes.entries()];
    const inForce = list.map(([, c]) => (c.inForceAt ?? NaN) - (c.notifyAt ?? NaN)).filter(Number.isFinite);
    const steered = list.map(([, c]) => (c.steeredAt ?? NaN) - (c.notifyAt ?? NaN)).filter(Number.isFinite);
    const wrong = list.filter(([u, c]) => c.steeredTo !== undefined && c.steeredTo !== expected.get(u)).length;
    const withHeader = list.filter(([u, c]) => c.pinHeader === expected.get(u)).length;
    const a = summarize(inForce);
    const b = summarize(steered);
    const out = ['', `=== xds-notify (issue 4): xds.pins ${PINS} ===`];
    out.push(`tracked users ${USERS}; pinned before the measurement ${pinnedNow}; measured changes ${measured.length} at ${args.rate}/s`);
    out.push(`changes seen: NOTIFY ${list.filter(([, c]) => c.notifyAt).length}, route update ${list.filter(([, c]) => c.routeUpdateAt).length}, in force ${a.n}, steered requests ${b.n} (${wrong} answered by another server than the user's; ${withHeader} carried the pin header)`);
    out.push(
      table([
        ['ms', 'n', 'p50', 'p90', 'p99', 'max'],
        [PINS === 'header' ? 'NOTIFY -> update in force (pin table)' : 'NOTIFY -> Envoy ACK of the routes', String(a.n), fmt(a.p50), fmt(a.p90), fmt(a.p99), fmt(a.max)],
        ['NOTIFY -> steered request answered', String(b.n), fmt(b.p50), fmt(b.p90), fmt(b.p99), fmt(b.max)],
      ]),
    );
    out.push('', 'targets (NOTIFY -> update in force):', table([['target', 'measured', 'met'], ['p50 <= 10 ms', fmt(a.p50), a.p50 <= 10 ? 'yes' : 'NO'], ['p99 <= 50 ms', fmt(a.p99), a.p99 <= 50 ? 'yes' : 'NO']]));
    const problems = s.plb.problems();
    out.push('', `presencelb warnings/errors: ${Object.keys(problems).length === 0 ? 'none' : ''}`);
    for (const [k, n] of Object.entries(problems)) out.push(`  ${n} x ${k}`);
    out.push('', `run directory: ${dir}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    progress('stopping every process');
    await stop();
  }
}

await main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`xds-notify benchmark failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
