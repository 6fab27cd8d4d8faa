/**
 * dataplane (issue 3): what presencelb on the request path costs Envoy.
 *
 * One run, one machine, side by side, through the same routes and clusters (from presencelb over ADS) to an
 * upstream Envoy answering with a direct_response:
 *   plain          Envoy alone: no ext_proc filter, no access log;
 *   blocking       ext_proc as shipped (Envoy waits for presencelb's answer to the request headers) and the gRPC
 *                  access log (flow ends);
 *   observability  the same with ext_proc observability_mode: true (Envoy does not wait);
 *   access-log     no ext_proc: the gRPC access log alone, with periodic entries for long streams
 *                  (envoy/envoy-access-log.yaml; presencelb learns every flow from the log);
 *   flow-log       the same over a file: Envoy's file logger writes the flow log, which presencelb follows
 *                  (envoy/envoy-flow-log.yaml, extProc.flowLog);
 *   off-path       blocking with extProc.offPath: tracked users' routes skip ext_proc, their flows come from the
 *                  flow log.
 * Identity is the x-user-id header (presencelb identity.source: header), users picked at random among --users.
 *
 * Every user is first brought in once through the blocking Envoy (register, publish, subscribe at a real Kamailio),
 * and only then is steady state measured: requests of known users. The warm-up is reported on its own.
 *
 * Figures: saturated requests/s per variant (wrk) and the ratio to plain; p50/p99 latency at a fixed rate below
 * saturation (an open-loop client in its own process); CPU seconds per 1,000 requests of presencelb and of Envoy;
 * presencelb's RSS over a long run (--duration) at the fixed rate. When a target is missed (or --profile always),
 * presencelb is profiled over one more saturated phase, its main thread and its data path's thread, and the top
 * functions are printed; --profile always adds a profile of blocking at the fixed rate.
 *
 *   npm run bench -- dataplane [--duration 300] [--phase 15] [--users 10000] [--connections 64] [--rate N]
 *                              [--envoy-concurrency 1] [--kamailio-shm 1024] [--profile auto|always|never]
 *                              [--quiet-wait 30] [--repeat 2] [--heap-profile] [--plb-nice 0] [--plb-idle]
 *                              [--pairs 12] [--pair-phase 5] [--latency-pairs 12] [--latency-pair-phase 5]
 *
 * --pairs N, --pair-phase S: after the repetitions, the flow-log and off-path variants (the modes whose throughput
 * targets presencelb claims) run again as plain, variant, plain, … plain: N variant phases of S seconds, back to
 * back, each compared with the mean of the plain phases just before and after it (bracketedRatios). Their median is
 * read beside the repetitions' median: on a shared machine plain's own rate moved by up to a third between phases a
 * minute apart, which a ratio of phases that far apart cannot tell from presencelb's cost. --pairs 0 leaves them out.
 * Twelve by default: one pair's ratio still moves by about a tenth either way here (18 pairs of three runs, 28
 * November 2026: 0.81 to 1.19), so the median of six moved by about 0.05 run to run, half the margin a 0.9 target
 * leaves; twelve pairs narrow that by about a third, for about four more minutes.
 *
 * --latency-pairs N, --latency-pair-phase S: the same for the off-path p99 added at the latency rate: plain, off-path,
 * plain, … N off-path phases of S seconds at the fixed rate, each p99 against the mean of the plain p99s just before
 * and after it (bracketedDifferences); their median is read beside the repetitions'. At 3,200 req/s a phase's p99 here
 * was the length of its longest machine-wide stall (see 2c below). --latency-pairs 0 leaves them out.
 * Every fixed-rate phase starts with 1 s of the same load that no figure counts (the client's warm-up).
 *
 * --plb-nice N: run presencelb under nice -n N (a lower CPU priority than Envoy's, as a deployment beside Envoy
 * would set it: scripts/up.sh, docker-compose.yml).
 * --plb-idle: run presencelb with cpu.policy idle (SCHED_IDLE) for the whole run: any other task that wakes up
 * preempts it, and it gets almost no CPU while others use every core.
 *
 * At the latency rate, the flow-log and off-path Envoys also run (each paired with plain) with presencelb stopped
 * (SIGSTOP: what Envoy's own configuration adds to p99) and with presencelb under SCHED_IDLE (`chrt --idle`: what
 * is left when the kernel always preempts presencelb for Envoy, the load generator and the upstream).
 *
 * --heap-profile: after the long run, one more blocking phase at the fixed rate with V8's sampling heap profiler on
 * in presencelb (what survives young collections: see heapProfileWindow); the top allocation sites are printed and
 * the profile is saved as presencelb-blocking.heapprofile. It needs the inspector (--profile auto or always).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OFF_PATH_FILTER, VARIANTS, type Variant } from './lib/bootstraps.ts';
import { pooledPercentiles, readLatencies, startFixedRate, WARMUP_SEC, type FixedRateResult } from './lib/fixed-rate.ts';
import { CpuMeter, cpuSeconds, ownCpuSeconds, rssBytes, trackCpu, treeCpuSeconds } from './lib/proc.ts';
import { heapProfileWindow, profileWindow, readLoopDelay, renderHeapProfile, renderProfile, renderThreads, resetLoopDelay, type LoopDelay } from './lib/profile.ts';
import { inRepetition, newUsers, progress, runDir, stopHook, waitMachineQuiet, waitQuiet, writeUsers } from './lib/run.ts';
import { readHeap, type HeapSample } from './lib/presencelb.ts';
import { get, startStack, warmUp, type BenchStack } from './lib/stack.ts';
import { bracketedDifferences, bracketedRatios, fmt, mb, median, table } from './lib/stats.ts';
import { runWrk, startWrk, writeWrkScript, type WrkResult } from './lib/wrk.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'dataplane'),
  options: {
    users: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '300' },
    phase: { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string', default: '0' },
    'envoy-concurrency': { type: 'string', default: '1' },
    'plb-nice': { type: 'string', default: '0' },
    'plb-idle': { type: 'boolean', default: false },
    'kamailio-shm': { type: 'string', default: '1024' },
    'warmup-concurrency': { type: 'string', default: '32' },
    profile: { type: 'string', default: 'auto' },
    'quiet-wait': { type: 'string', default: '30' },
    repeat: { type: 'string', default: '2' },
    'heap-profile': { type: 'boolean', default: false },
    pairs: { type: 'string', default: '12' },
    'pair-phase': { type: 'string', default: '5' },
    'latency-pairs': { type: 'string', default: '12' },
    'latency-pair-phase': { type: 'string', default: '5' },
    'span-hold-ms': { type: 'string' },
  },
});
const USERS = Number(args.users);
const DURATION = Number(args.duration);
const PHASE = Number(args.phase);
const CONNECTIONS = Number(args.connections);
const PROFILE = args.profile as 'auto' | 'always' | 'never';
/** QUIET_WAIT: the longest a phase waits for other processes on the machine to go quiet (seconds). */
const QUIET_WAIT = Number(args['quiet-wait']);
/** REPEAT: each saturated and fixed-rate phase runs this many times; the one least disturbed by others is kept. */
const REPEAT = Number(args.repeat);
const HEAP_PROFILE = args['heap-profile'] === true;
/** PAIRS: bracketed saturated phases (plain, variant, plain, … plain) per BRACKETED variant; 0 leaves them out. */
const PAIRS = Number(args.pairs);
const PAIR_PHASE = Number(args['pair-phase']);
if (!Number.isInteger(PAIRS) || PAIRS < 0) throw new Error('--pairs must be an integer >= 0');
if (!(PAIR_PHASE >= 1)) throw new Error('--pair-phase must be at least 1 (seconds)');
/** LATENCY_PAIRS: bracketed fixed-rate phases (plain, off-path, plain, … plain) at the latency rate; 0 leaves them out. */
const LATENCY_PAIRS = Number(args['latency-pairs']);
const LATENCY_PAIR_PHASE = Number(args['latency-pair-phase']);
if (!Number.isInteger(LATENCY_PAIRS) || LATENCY_PAIRS < 0) throw new Error('--latency-pairs must be an integer >= 0');
if (!(LATENCY_PAIR_PHASE >= 1)) throw new Error('--latency-pair-phase must be at least 1 (seconds)');
/** SPAN_HOLD_MS: presencelb's extProc.spanHoldMs for the whole run (null: its default). */
const SPAN_HOLD_MS = args['span-hold-ms'] === undefined ? null : Number(args['span-hold-ms']);
/**
 * BRACKETED: the variants whose throughput targets presencelb claims (observability over the flow log; blocking
 * with tracked users off ext_proc), measured again as plain, variant, plain, … so that each of their phases is
 * compared with plain run just before and just after it (bracketedRatios).
 */
const BRACKETED: readonly Variant[] = ['flow-log', 'off-path'];
if (HEAP_PROFILE && PROFILE === 'never') throw new Error('--heap-profile needs the inspector: use --profile auto or always');

/** ExtProcCounts are the Envoy counters that say whether presencelb saw each request. */
interface ExtProcCounts {
  readonly streams: number;
  /** failureModeAllowed: requests Envoy let through because the ext_proc stream failed or timed out (untracked). */
  readonly failureModeAllowed: number;
  readonly messageTimeouts: number;
  /** overflow: ext_proc streams refused by Envoy's circuit breaker on the presencelb_ext_proc cluster. */
  readonly overflow: number;
  /** rejected5xx: ext_proc streams that ended 5xx at the gRPC level (overflow, refused stream, reset). */
  readonly rejected5xx: number;
  readonly accessLogsWritten: number;
  readonly accessLogsDropped: number;
  /** fileWritesFailed: writes (of many entries each) Envoy's file loggers could not make, reopens included. */
  readonly fileWritesFailed: number;
}

function extProcCounts(d: Record<string, number>): ExtProcCounts {
  const sum = (suffix: string) => Object.entries(d).filter(([k]) => k.endsWith(suffix)).reduce((a, [, v]) => a + v, 0);
  return {
    streams: sum('.ext_proc.streams_started'),
    failureModeAllowed: sum('.ext_proc.failure_mode_allowed'),
    messageTimeouts: sum('.ext_proc.message_timeouts'),
    overflow: sum('presencelb_ext_proc.upstream_rq_active_overflow') + sum('presencelb_ext_proc.upstream_rq_pending_overflow'),
    rejected5xx: d['cluster.presencelb_ext_proc.upstream_rq_5xx'] ?? 0,
    accessLogsWritten: sum('grpc_access_log.logs_written'),
    accessLogsDropped: sum('grpc_access_log.logs_dropped'),
    fileWritesFailed: sum('filesystem.write_failed') + sum('filesystem.reopen_failed'),
  };
}

/** Measured is one load phase against one variant: the load's report, CPU used (s), and the Envoy counters that moved. */
interface Measured<T> {
  readonly load: T;
  readonly requests: number;
  readonly cpu: Record<string, number>;
  /** othersCores: CPU used meanwhile by processes this benchmark did not start, in cores (on a shared machine). */
  readonly othersCores: number;
  /** quiet: how long the phase waited for the machine to be quiet, and how busy it still was. */
  readonly quiet: { readonly waitedSec: number; readonly busyCores: number };
  readonly wallSec: number;
  readonly drainSec: number;
  readonly extProc: ExtProcCounts;
  readonly envoyDeltas: Record<string, number>;
  /** loopDelay: presencelb's event-loop delay during the load (null without an inspector). */
  readonly loopDelay: LoopDelay | null;
}

async function measure<T>(stack: BenchStack, variant: Variant, requestsOf: (t: T) => number, start: () => { pid: number; done: Promise<T> }, loadCpuOf?: (t: T) => number): Promise<Measured<T>> {
  const ut = stack.underTest.get(variant)!;
  await waitQuiet(stack.plb.pid, { share: 0.05, windowMs: 500 });
  const quiet = await waitMachineQuiet(QUIET_WAIT);
  const filter = 'ext_proc|grpc_access_log|filesystem';
  const before = await ut.envoy.counters(filter);
  const meter = new CpuMeter(
    new Map<string, () => number>([
      ['presencelb', () => cpuSeconds(stack.plb.pid)],
      ['envoy', () => cpuSeconds(ut.envoy.pid)],
      ['upstream', () => cpuSeconds(stack.upstream.pid)],
      ['kamailio', () => treeCpuSeconds(stack.kamailioPid)],
      ['bench', ownCpuSeconds],
    ]),
  );
  stack.plb.assertAlive(`before the ${variant} phase`);
  const inspector = stack.plb.inspectorUrl;
  if (inspector) await resetLoopDelay(inspector);
  const { pid, done } = start();
  const tracker = trackCpu(pid);
  const load = await done;
  tracker.stop();
  stack.plb.assertAlive(`during the ${variant} phase (figures of this phase discarded)`);
  const loopDelay = inspector ? await readLoopDelay(inspector) : null;
  // presencelb's work queued by the phase (store writes, access log entries) is counted until it goes quiet.
  const drainSec = await waitQuiet(stack.plb.pid, { share: 0.05, windowMs: 500, maxMs: 120000 });
  const m = meter.read();
  const cpu = { ...m.perProcess, loadgen: loadCpuOf?.(load) ?? tracker.value() };
  const after = await ut.envoy.counters(filter);
  const envoyDeltas: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) envoyDeltas[k] = v - (before[k] ?? 0);
  const mine = Object.values(cpu).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { load, requests: requestsOf(load), cpu, othersCores: Math.max(0, m.machineBusy - mine) / m.wallSec, quiet, wallSec: m.wallSec, drainSec, extProc: extProcCounts(envoyDeltas), envoyDeltas, loopDelay };
}

/**
 * keepCalmest keeps, per key, the repetition during which other processes on the machine used the least CPU: on a
 * shared machine that is the one that measured presencelb and Envoy rather than someone else's test suite.
 */
function keepCalmest<T>(m: Map<string, Measured<T>>, key: string, x: Measured<T>): void {
  const prev = m.get(key);
  if (!prev || x.othersCores < prev.othersCores) m.set(key, x);
}

/** servedOf: the requests a fixed-rate phase's CPU was spent on, its unmeasured warm-up's included. */
const servedOf = (r: FixedRateResult) => r.ok + r.non2xx + r.warmup.done;

const per1000 = (cpuSec: number | undefined, requests: number) => (cpuSec === undefined || requests === 0 ? NaN : (1000 * cpuSec) / requests);

async function main(): Promise<void> {
  const dir = runDir('dataplane');
  progress(`run directory ${dir}; ${USERS} users, phases of ${PHASE} s, long run ${DURATION} s`);
  let stack: BenchStack | null = null;
  const stop = stopHook(async () => {
    if (stack) await stack.stop();
  });
  try {
    stack = await startStack({
      dir,
      variants: VARIANTS,
      kamailioShmMb: Number(args['kamailio-shm']),
      envoyConcurrency: Number(args['envoy-concurrency']),
      nodeArgs: PROFILE === 'never' ? [] : ['--inspect=127.0.0.1:0'],
      plbNice: Number(args['plb-nice']),
      plbSchedIdle: args['plb-idle'] === true,
      // Steady state only: nobody publishes presence here, so nothing is decided; keep windows out of the way.
      lifecycle: { reconnectWindowMs: 3600000, flowRetentionMs: 7200000 },
      // The off-path variant: tracked users' routes disable its ext_proc filter (named apart; see bootstraps.ts).
      // The route table is served to every variant alike; only the off-path Envoy has a filter of that name.
      // --span-hold-ms 5000 runs presencelb as the flow log's configs ship it (config/presencelb-flow-log.yaml); one
      // presencelb serves every variant, so the others' held flows are then folded for 5 s too (their default: 2 s).
      extProc: { accessLogLagMs: 1500, ...(SPAN_HOLD_MS !== null ? { spanHoldMs: SPAN_HOLD_MS } : {}), offPath: { enabled: true, extProcFilter: OFF_PATH_FILTER } },
      xds: { pins: 'routes' },
      // The data path alone: with Kamailio's longest expiries (3600 s) no REGISTER, PUBLISH or SUBSCRIBE refresh
      // of the warmed-up users falls inside the run (with 600 s they all come due together ~9 min after warm-up).
      presence: { registerExpiresSec: 3600, publishExpiresSec: 3600, subscribeExpiresSec: 3600 },
    });
    const s = stack;
    for (const n of s.notes) progress(n);
    const blocking = s.underTest.get('blocking')!;
    progress(`sanity: no identity through blocking -> ${await get(blocking.url, {})}, through plain -> ${await get(s.underTest.get('plain')!.url, {})} (expect 400, 200)`);

    const users = newUsers(USERS);
    const script = writeWrkScript(dir);
    progress(`warm-up: first request of ${USERS} users through the blocking Envoy`);
    const rssBeforeWarm = rssBytes(s.plb.pid);
    const warm = await warmUp({ url: blocking.url, users, plb: s.plb, envoy: blocking.envoy, concurrency: Number(args['warmup-concurrency']) });
    s.plb.assertAlive('during the warm-up');
    const warmQuiet = await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 1000, maxMs: 300000 });
    // The off-path route table is published publishMs (5 s) after the first new user it lacks: let the last one
    // reach the Envoys, and Envoy build its routes.
    await new Promise((r) => setTimeout(r, 8000));
    progress(`warm-up: requests ${fmt(warm.requestsSec)} s, all subscribed ${fmt(warm.setupSec)} s (+${fmt(warmQuiet)} s until quiet); subscribed ${warm.subscribed}, failed ${warm.failed}; statuses ${JSON.stringify(warm.statuses)}; unseen by presencelb after each round ${JSON.stringify(warm.unseen)}, not subscribed ${JSON.stringify(warm.notSubscribed)}; ext_proc ${JSON.stringify(warm.extProc)}`);
    // Steady state: requests of users presencelb tracks. A user it could not subscribe is degraded and would be set
    // up again (SIP work) on a later request, so such users are left out of the load (and counted in the report).
    const tracked = warm.subscribedUsers;
    const usersFile = writeUsers(dir, 'users.txt', tracked);
    if (tracked.length < users.length) progress(`load phases use the ${tracked.length} users presencelb subscribed to (${users.length - tracked.length} left out)`);

    // 1. Saturation. Each repetition runs every variant, in the opposite order to the one before (so that a drift
    // of the machine's load over a repetition does not always favour the same variants).
    const sat = new Map<string, Measured<WrkResult>>();
    /** satRuns: each repetition's requests/s per variant, for the paired ratios (pairedRatio). */
    const satRuns: Array<Partial<Record<Variant, number>>> = [];
    /** saturate warms v's connections for 2 s, then measures `seconds` of saturated load. */
    const saturate = async (v: Variant, seconds: number) => {
      const url = s.underTest.get(v)!.url;
      await runWrk({ url, script, usersFile, seconds: 2, connections: CONNECTIONS });
      return measure(s, v, (w: WrkResult) => w.requests, () => startWrk({ url, script, usersFile, seconds, connections: CONNECTIONS }));
    };
    for (let rep = 1; rep <= REPEAT; rep++) {
      const round: Partial<Record<Variant, number>> = {};
      satRuns.push(round);
      for (const v of inRepetition(VARIANTS, rep)) {
        progress(`saturation: ${v}, wrk -t1 -c${CONNECTIONS} -d${PHASE}s (${rep}/${REPEAT})`);
        const m = await saturate(v, PHASE);
        keepCalmest(sat, v, m);
        round[v] = m.load.rps;
        progress(`  ${fmt(m.load.rps, 0)} req/s, p50 ${fmt(m.load.p50, 2)} ms, p99 ${fmt(m.load.p99, 2)} ms, non-2xx ${m.load.non2xx}, socket errors ${m.load.socketErrors}, untracked ${m.extProc.failureModeAllowed}, drain ${fmt(m.drainSec)} s, other processes ${fmt(m.othersCores, 2)} cores`);
      }
    }
    // 1b. Bracketed pairs: plain, V, plain, V, … plain, back to back, PAIR_PHASE seconds each. The repetitions above
    // put a minute and four other variants between plain and V, over which plain's own rate moved by up to a third.
    const bracketed = new Map<Variant, { plain: number[]; variant: number[]; ratios: number[] }>();
    for (const v of PAIRS > 0 ? BRACKETED : []) {
      const plain: number[] = [];
      const variant: number[] = [];
      for (let i = 0; i <= 2 * PAIRS; i++) {
        const which: Variant = i % 2 === 0 ? 'plain' : v;
        const m = await saturate(which, PAIR_PHASE);
        (i % 2 === 0 ? plain : variant).push(m.load.rps);
        progress(`bracketed ${v} (${i + 1}/${2 * PAIRS + 1}): ${which} ${fmt(m.load.rps, 0)} req/s for ${PAIR_PHASE} s, drain ${fmt(m.drainSec)} s, other processes ${fmt(m.othersCores, 2)} cores`);
      }
      bracketed.set(v, { plain, variant, ratios: bracketedRatios(plain, variant) });
    }
    const bracketedRatio = (v: Variant) => (bracketed.has(v) ? median(bracketed.get(v)!.ratios) : NaN);

    const plainRps = sat.get('plain')!.load.rps;
    const minRps = Math.min(...[...sat.values()].map((m) => m.load.rps));

    // 2. Fixed rate: 50% of plain's saturated rate (as issue 3 asks), and also 50% of the slowest variant's when a
    // variant would be (close to) saturated at the first rate, so that latencies compare unloaded systems.
    const rates = Number(args.rate) > 0 ? [Number(args.rate)] : [Math.round(plainRps / 2)];
    if (Number(args.rate) === 0 && minRps < 1.25 * rates[0]!) rates.push(Math.round(minRps / 2));
    const fixed = new Map<string, Measured<FixedRateResult>>();
    /** fixedRuns: every repetition's per-request latencies and p99, per `${variant}@${rate}`, in repetition order. */
    const fixedRuns = new Map<string, Array<{ latencies: Float32Array; p99: number }>>();
    for (const rate of rates) {
      for (let rep = 1; rep <= REPEAT; rep++) {
        for (const v of inRepetition(VARIANTS, rep)) {
          progress(`fixed rate: ${v} at ${rate} req/s for ${PHASE} s (${rep}/${REPEAT})`);
          const latenciesFile = path.join(dir, `latencies-${v}-${rate}-${rep}.f32`);
          const m = await measure(s, v, servedOf, () => startFixedRate({ url: s.underTest.get(v)!.url, usersFile, rate, seconds: PHASE, latenciesFile }), (r) => r.cpuSec);
          keepCalmest(fixed, `${v}@${rate}`, m);
          const runsOf = fixedRuns.get(`${v}@${rate}`) ?? [];
          fixedRuns.set(`${v}@${rate}`, runsOf);
          runsOf.push({ latencies: readLatencies(latenciesFile), p99: m.load.latencyMs.p99 });
          fs.rmSync(latenciesFile);
          progress(`  achieved ${fmt(m.load.achievedRps, 0)} req/s, p50 ${fmt(m.load.latencyMs.p50, 2)} ms, p99 ${fmt(m.load.latencyMs.p99, 2)} ms, p99.9 ${fmt(m.load.latencyMs.p999, 2)} ms, non-2xx ${m.load.non2xx}, errors ${m.load.errors}, untracked ${m.extProc.failureModeAllowed}, other processes ${fmt(m.othersCores, 2)} cores`);
        }
      }
    }
    const latencyRate = rates[rates.length - 1]!;

    // 2b. The p99 Envoy's own configuration adds, with presencelb's CPU out of the way: the off-path and flow-log
    // Envoys (whose tracked users' requests do not wait for presencelb: flows go to a file) at the latency rate with
    // presencelb stopped (SIGSTOP) for the phase, each paired with plain in the same repetition. What this adds is
    // the ceiling Envoy sets, as 'x plain if plb cost 0' is for throughput; presencelb reads the file afterwards.
    // Then the same with presencelb running under SCHED_IDLE (every thread, `chrt --idle`, its usual policy again
    // afterwards): the kernel then preempts it at once for any other task that wakes up, where at a nice level the
    // running task may keep the CPU for the rest of its slice. What is left of the p99 added is then presencelb's
    // share of the CPU, not the order the kernel runs things in.
    type QuietState = 'stopped' | 'idle';
    // (With --plb-idle presencelb runs under SCHED_IDLE throughout: the figures above are that pass's.)
    const quietStates: readonly QuietState[] = args['plb-idle'] ? ['stopped'] : ['stopped', 'idle'];
    const quietRuns = new Map<QuietState, Map<Variant, number[]>>(quietStates.map((q) => [q, new Map()]));
    /** quietErrors: failed or non-2xx requests (one waiting for a presencelb that is stopped would time out). */
    const quietErrors = new Map<QuietState, Map<Variant, number>>(quietStates.map((q) => [q, new Map()]));
    const setState = (q: QuietState, on: boolean) => {
      if (q === 'stopped') process.kill(s.plb.pid, on ? 'SIGSTOP' : 'SIGCONT');
      else execFileSync('chrt', ['--all-tasks', on ? '--idle' : '--other', '--pid', '0', String(s.plb.pid)]);
    };
    for (const q of quietStates) {
      for (let rep = 1; rep <= REPEAT; rep++) {
        for (const v of inRepetition(['plain', 'flow-log', 'off-path'] as Variant[], rep)) {
          await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 500, maxMs: 120000 });
          await waitMachineQuiet(QUIET_WAIT);
          progress(`fixed rate, presencelb ${q === 'stopped' ? 'stopped' : 'at SCHED_IDLE'}: ${v} at ${latencyRate} req/s for ${PHASE} s (${rep}/${REPEAT})`);
          const changed = v !== 'plain';
          if (changed) setState(q, true);
          let r: FixedRateResult;
          try {
            r = await startFixedRate({ url: s.underTest.get(v)!.url, usersFile, rate: latencyRate, seconds: PHASE }).done;
          } finally {
            if (changed) setState(q, false);
          }
          const runs = quietRuns.get(q)!;
          runs.set(v, [...(runs.get(v) ?? []), r.latencyMs.p99]);
          quietErrors.get(q)!.set(v, (quietErrors.get(q)!.get(v) ?? 0) + r.errors + r.non2xx);
          progress(`  achieved ${fmt(r.achievedRps, 0)} req/s, p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, errors ${r.errors}`);
        }
      }
      s.plb.assertAlive(`after the phases with presencelb ${q}`);
    }
    const quietAdded = (q: QuietState, v: Variant) => quietRuns.get(q)!.get(v)!.map((p99, i) => p99 - quietRuns.get(q)!.get('plain')![i]!);

    // 2c. Bracketed latency pairs: plain, off-path, plain, … plain at the latency rate, LATENCY_PAIR_PHASE seconds each
    // (after the client's warm-up), each off-path phase's p99 against the mean of the plain p99s just before and after
    // it (bracketedDifferences), as the throughput pairs do for rates. A probe of 28 November 2026 (3,200 req/s, 10 s
    // phases) found a phase's slowest 1% of requests in one or two 100 ms windows in which every request stalled: plain
    // Envoy's phases as often as off-path's, and with presencelb stopped as often as running. A phase's p99 was then
    // the length of its longest stall (plain alone: 3.5 to 85 ms over six phases), and a median of three differences
    // moved by tens of milliseconds from run to run. The median of many short pairs is not moved by a few stalled
    // phases; the requests of all of them pooled are printed beside it.
    const latencyPairs = new Map<Variant, { plain: number[]; variant: number[]; added: number[]; pooledAdded: number; failed: number }>();
    for (const v of LATENCY_PAIRS > 0 ? (['off-path'] as const) : []) {
      const p99s = { plain: [] as number[], variant: [] as number[] };
      const lats = { plain: [] as Float32Array[], variant: [] as Float32Array[] };
      let failed = 0;
      for (let i = 0; i <= 2 * LATENCY_PAIRS; i++) {
        const which: Variant = i % 2 === 0 ? 'plain' : v;
        const side = i % 2 === 0 ? 'plain' : 'variant';
        await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 500, maxMs: 120000 });
        await waitMachineQuiet(QUIET_WAIT);
        const latenciesFile = path.join(dir, `latencies-pair-${which}-${i}.f32`);
        const r = await startFixedRate({ url: s.underTest.get(which)!.url, usersFile, rate: latencyRate, seconds: LATENCY_PAIR_PHASE, latenciesFile }).done;
        p99s[side].push(r.latencyMs.p99);
        lats[side].push(readLatencies(latenciesFile));
        fs.rmSync(latenciesFile);
        const phaseFailed = r.errors + r.non2xx + r.unfinished;
        failed += phaseFailed;
        progress(`latency pairs ${v} (${i + 1}/${2 * LATENCY_PAIRS + 1}): ${which} at ${latencyRate} req/s for ${LATENCY_PAIR_PHASE} s: p50 ${fmt(r.latencyMs.p50, 2)} ms, p99 ${fmt(r.latencyMs.p99, 2)} ms, max ${fmt(r.latencyMs.max ?? NaN, 1)} ms, failed ${phaseFailed}`);
      }
      latencyPairs.set(v, { ...p99s, added: bracketedDifferences(p99s.plain, p99s.variant), pooledAdded: pooledPercentiles(lats.variant).p99 - pooledPercentiles(lats.plain).p99, failed });
    }

    // 3. Long run: blocking at the (sustainable) fixed rate, presencelb's RSS sampled every 5 s.
    progress(`long run: blocking at ${latencyRate} req/s for ${DURATION} s, RSS sampled every 5 s`);
    // With each RSS sample, the main thread's V8 heap from presencelb's metrics endpoint: what of RSS is that heap
    // (live objects and garbage not yet collected), and what is outside it (the data path's thread, SQLite, buffers).
    const rss: Array<{ t: number; bytes: number; heap: HeapSample | null }> = [];
    let tLong = 0;
    let sampler: NodeJS.Timeout | undefined;
    const sample = async () => {
      const t = (Date.now() - tLong) / 1000;
      const bytes = rssBytes(s.plb.pid);
      rss.push({ t, bytes, heap: await readHeap(s.plb.metricsUrl) });
    };
    const long = await measure(s, 'blocking', servedOf, () => {
      tLong = Date.now();
      void sample();
      sampler = setInterval(() => void sample(), 5000);
      return startFixedRate({ url: blocking.url, usersFile, rate: latencyRate, seconds: DURATION });
    }, (r) => r.cpuSec);
    clearInterval(sampler);
    await sample();
    rss.sort((a, b) => a.t - b.t);
    progress(`  achieved ${fmt(long.load.achievedRps, 0)} req/s, p50 ${fmt(long.load.latencyMs.p50, 2)} ms, p99 ${fmt(long.load.latencyMs.p99, 2)} ms; RSS ${mb(rss[0]!.bytes)} -> ${mb(rss[rss.length - 1]!.bytes)} MiB`);

    let heapProfile = '';
    if (HEAP_PROFILE && s.plb.inspectorUrl) {
      await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 500 });
      progress(`heap profile: presencelb's allocations that outlive young collections, blocking at ${latencyRate} req/s for ${PHASE} s`);
      const { profile } = await heapProfileWindow(s.plb.inspectorUrl, () => startFixedRate({ url: blocking.url, usersFile, rate: latencyRate, seconds: PHASE }).done);
      const file = path.join(dir, 'presencelb-blocking.heapprofile');
      fs.writeFileSync(file, JSON.stringify(profile));
      heapProfile = `${renderHeapProfile(profile)}\n(profile saved as ${file})`;
    }

    // Targets. Each is read from every repetition, not from the calmest one alone, and each compares a variant with
    // plain measured in the same repetition (minutes apart): a throughput ratio is the median of the repetitions'
    // ratios, and the p99 added is the median of the repetitions' differences of p99s. A median is not moved by one
    // disturbed repetition; the p99 of all repetitions' requests pooled (shown beside it) is: one repetition of plain
    // disturbed by another process made every variant look faster than plain. With one repetition, its figures.
    const ratio = (v: Variant) => sat.get(v)!.load.rps / plainRps;
    const p99At = (v: Variant, rate: number) => fixed.get(`${v}@${rate}`)!.load.latencyMs.p99;
    const pairedRatio = (v: Variant) => median(satRuns.map((r) => r[v]! / r.plain!));
    const pooled = (v: Variant, rate: number) => pooledPercentiles(fixedRuns.get(`${v}@${rate}`)!.map((run) => run.latencies));
    const pooledAdded = (v: Variant, rate: number) => pooled(v, rate).p99 - pooled('plain', rate).p99;
    const runP99s = (v: Variant, rate: number) => fixedRuns.get(`${v}@${rate}`)!.map((run) => run.p99);
    const pairedAdded = (v: Variant, rate: number) => {
      const plain = runP99s('plain', rate);
      return runP99s(v, rate).map((p99, i) => p99 - plain[i]!);
    };
    const medianAdded = (v: Variant, rate: number) => median(pairedAdded(v, rate));
    const addedP99 = medianAdded('blocking', latencyRate);
    const addedP99OffPath = medianAdded('off-path', latencyRate);
    const runs = REPEAT === 1 ? '1 run' : `median of ${REPEAT} paired runs`;
    const rssStart = rss[0]!.bytes;
    const rssEnd = rss[rss.length - 1]!.bytes;
    const half = rss.filter((r) => r.t >= DURATION / 2);
    const slope = half.length >= 2 ? ((half[half.length - 1]!.bytes - half[0]!.bytes) / 1048576 / (half[half.length - 1]!.t - half[0]!.t)) * 60 : NaN;
    // RSS rises and falls with each full collection (a sawtooth of about 100 MiB at 10,000 users), so one sample at
    // each end tells the sawtooth's phase more than growth: the halves' means and peaks are compared instead.
    const halves = [rss.filter((r) => r.t < DURATION / 2), half].map((h) => h.map((r) => r.bytes));
    const [mean1, mean2] = halves.map((h) => h.reduce((a, b) => a + b, 0) / Math.max(1, h.length)) as [number, number];
    const [peak1, peak2] = halves.map((h) => Math.max(...h)) as [number, number];
    const tolerance = Math.max(10 * 1048576, 0.05 * mean1);
    const rssFlat = mean2 - mean1 <= tolerance && peak2 - peak1 <= tolerance;
    const bracketedWhat = (v: Variant) => {
      const r = bracketed.get(v)!.ratios;
      return `median of ${r.length} bracketed pairs, ${fmt(Math.min(...r), 3)}-${fmt(Math.max(...r), 3)}`;
    };
    const targets = [
      { what: 'observability throughput >= 0.9 x plain: ext_proc observability_mode', value: `${fmt(pairedRatio('observability'), 3)} (${runs})`, met: pairedRatio('observability') >= 0.9 },
      { what: 'observability throughput >= 0.9 x plain: access-log mode (no ext_proc)', value: `${fmt(pairedRatio('access-log'), 3)} (${runs})`, met: pairedRatio('access-log') >= 0.9 },
      { what: 'observability throughput >= 0.9 x plain: access-log mode over the flow log file (no ext_proc)', value: `${fmt(pairedRatio('flow-log'), 3)} (${runs})`, met: pairedRatio('flow-log') >= 0.9 },
      ...(bracketed.has('flow-log') ? [{ what: 'observability throughput >= 0.9 x plain: the flow log, bracketed pairs', value: `${fmt(bracketedRatio('flow-log'), 3)} (${bracketedWhat('flow-log')})`, met: bracketedRatio('flow-log') >= 0.9 }] : []),
      { what: 'blocking throughput >= 0.6 x plain', value: `${fmt(pairedRatio('blocking'), 3)} (${runs})`, met: pairedRatio('blocking') >= 0.6 },
      { what: 'blocking throughput >= 0.6 x plain: extProc.offPath (tracked users off ext_proc)', value: `${fmt(pairedRatio('off-path'), 3)} (${runs})`, met: pairedRatio('off-path') >= 0.6 },
      ...(bracketed.has('off-path') ? [{ what: 'blocking throughput >= 0.6 x plain: extProc.offPath, bracketed pairs', value: `${fmt(bracketedRatio('off-path'), 3)} (${bracketedWhat('off-path')})`, met: bracketedRatio('off-path') >= 0.6 }] : []),
      { what: `blocking adds <= 1 ms to p99 at ${latencyRate} req/s`, value: `${fmt(addedP99, 2)} ms (${runs})`, met: addedP99 <= 1 },
      { what: `blocking adds <= 1 ms to p99 at ${latencyRate} req/s: extProc.offPath`, value: `${fmt(addedP99OffPath, 2)} ms (${runs})`, met: addedP99OffPath <= 1 },
      ...[...latencyPairs].map(([v, lp]) => ({
        what: `blocking adds <= 1 ms to p99 at ${latencyRate} req/s: extProc.offPath, bracketed pairs`,
        value: `${fmt(median(lp.added), 2)} ms (median of ${lp.added.length} bracketed pairs of ${LATENCY_PAIR_PHASE} s, ${fmt(Math.min(...lp.added), 2)} to ${fmt(Math.max(...lp.added), 2)}; pooled ${fmt(lp.pooledAdded, 2)}; ${v} requests failed ${lp.failed})`,
        met: median(lp.added) <= 1,
      })),
      { what: `presencelb RSS flat over ${DURATION} s`, value: `${mb(rssStart)} -> ${mb(rssEnd)} MiB; halves: mean ${mb(mean1)} -> ${mb(mean2)}, peak ${mb(peak1)} -> ${mb(peak2)} (last half ${fmt(slope, 2)} MiB/min)`, met: rssFlat },
    ];

    // 4. Profile where presencelb's time goes, over one more saturated phase per variant that missed a target.
    const profiles: Record<string, string> = {};
    const missed = targets.some((t) => !t.met);
    if (PROFILE === 'always' || (PROFILE === 'auto' && missed)) {
      const which: Variant[] = PROFILE === 'always' ? ['blocking', 'observability', 'access-log', 'flow-log'] : ['blocking', ...(['observability', 'access-log', 'flow-log'] as const).filter((v) => pairedRatio(v) < 0.9)];
      for (const v of which) {
        s.plb.assertAlive('before profiling');
        const inspector = s.plb.inspectorUrl;
        if (!inspector) {
          progress('profile: presencelb has no inspector URL; skipped');
          break;
        }
        await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 500 });
        await waitMachineQuiet(QUIET_WAIT);
        progress(`profile: presencelb during ${PHASE} s of saturated ${v} load`);
        const window = await profileWindow(inspector, () => runWrk({ url: s.underTest.get(v)!.url, script, usersFile, seconds: PHASE, connections: CONNECTIONS }));
        profiles[`saturated ${v}`] = renderThreads(window, dir, `presencelb-${v}`);
      }
      // The fixed rate, where the latency target is read, handles fewer requests per wake-up: a profile of its own.
      if (PROFILE === 'always' && s.plb.inspectorUrl) {
        await waitQuiet(s.plb.pid, { share: 0.05, windowMs: 500 });
        progress(`profile: presencelb during ${PHASE} s of blocking at ${latencyRate} req/s`);
        const window = await profileWindow(s.plb.inspectorUrl, () => startFixedRate({ url: blocking.url, usersFile, rate: latencyRate, seconds: PHASE }).done);
        profiles[`blocking at ${latencyRate} req/s`] = renderThreads(window, dir, `presencelb-blocking-${latencyRate}rps`);
      }
    }

    // Report.
    const out: string[] = ['', '=== dataplane (issue 3) ==='];
    out.push(`machine: ${fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length} CPUs; Envoy --concurrency ${args['envoy-concurrency']}; presencelb ${args['plb-idle'] ? 'under SCHED_IDLE' : `niceness ${args['plb-nice']}`}; everything on 127.0.0.1`);
    out.push(...s.notes.map((n) => `note: ${n}`));
    out.push('note: presencelb runs with presence expiries of 3600 s, so no refresh of the warmed-up users falls inside the measurement');
    out.push(`note: presencelb runs with extProc.spanHoldMs ${SPAN_HOLD_MS ?? 'as its default'} for every variant (the flow log's configs ship 5000, the default is 2000)`);
    out.push(`warm-up (not steady state): ${USERS} new users' first requests in ${fmt(warm.requestsSec)} s; all subscribed after ${fmt(warm.setupSec)} s = ${fmt(warm.subscribed / warm.setupSec, 0)} new users/s (subscribed ${warm.subscribed}, failed ${warm.failed}); statuses ${JSON.stringify(warm.statuses)}; after each round of first requests: users presencelb had not seen ${JSON.stringify(warm.unseen)}, not subscribed ${JSON.stringify(warm.notSubscribed)}; ext_proc counters ${JSON.stringify(warm.extProc)}; presencelb RSS ${mb(rssBeforeWarm)} -> ${mb(rssBytes(s.plb.pid))} MiB`);
    // Requests presencelb heard of: those whose ext_proc stream worked; in access-log mode, those whose entry Envoy did
    // not drop. Envoy's file logger counts failed writes, not entries (each write carries many): for flow-log the
    // share is not measured ('-'; see the counters' file write failures), and off-path's counts ext_proc alone.
    const unseenOf = (m: Measured<unknown>, v: Variant) => (v === 'access-log' ? m.extProc.accessLogsDropped : m.extProc.accessLogsDropped + m.extProc.failureModeAllowed);
    const seenShare = (m: Measured<unknown>, v: Variant) => (v === 'plain' || v === 'flow-log' ? '-' : `${fmt((100 * (m.requests - unseenOf(m, v))) / Math.max(1, m.requests), 1)}%`);
    const loopCols = (m: Measured<unknown>) => [m.loopDelay ? `${fmt(m.loopDelay.p99, 0)}/${fmt(m.loopDelay.max, 0)}` : '-'];
    const cpuCols = (m: Measured<unknown>) => [fmt(per1000(m.cpu.presencelb, m.requests), 3), fmt(per1000(m.cpu.envoy, m.requests), 3), fmt(per1000(m.cpu.loadgen, m.requests), 3), fmt(m.othersCores, 2)];
    out.push('', `saturated (wrk -t1 -c${CONNECTIONS}, ${PHASE} s each, the least disturbed of ${REPEAT} runs; steady state: requests of the ${tracked.length} users presencelb tracks):`);
    out.push(
      table([
        ['variant', 'req/s', 'x plain', 'p50 ms', 'p99 ms', 'errors', 'seen by plb', 'plb CPU s/1k', 'Envoy CPU s/1k', 'loadgen CPU s/1k', 'others (cores)', 'plb drain s', 'plb loop delay p99/max ms'],
        ...VARIANTS.map((v) => {
          const m = sat.get(v)!;
          return [v, fmt(m.load.rps, 0), fmt(ratio(v), 3), fmt(m.load.p50, 2), fmt(m.load.p99, 2), String(m.load.non2xx + m.load.socketErrors), seenShare(m, v), ...cpuCols(m), fmt(m.drainSec, 1), ...loopCols(m)];
        }),
      ]),
    );
    for (const rate of rates) {
      out.push('', `fixed rate ${rate} req/s (${fmt((100 * rate) / plainRps, 0)}% of plain's saturated rate), ${PHASE} s each, the least disturbed of ${REPEAT} runs, latency from each request's due time:`);
      out.push(
        table([
          ['variant', 'achieved', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'p99 - plain', 'errors', 'seen by plb', 'plb CPU s/1k', 'Envoy CPU s/1k', 'loadgen CPU s/1k', 'others (cores)', 'plb loop delay p99/max ms'],
          ...VARIANTS.map((v) => {
            const m = fixed.get(`${v}@${rate}`)!;
            const l = m.load.latencyMs;
            return [v, fmt(m.load.achievedRps, 0), fmt(l.p50, 2), fmt(l.p90, 2), fmt(l.p99, 2), fmt(l.p999, 2), fmt(l.p99 - p99At('plain', rate), 2), String(m.load.non2xx + m.load.errors + m.load.unfinished), seenShare(m, v), ...cpuCols(m), ...loopCols(m)];
          }),
        ]),
      );
    }
    if (REPEAT > 1) {
      out.push('', `every repetition (variants in alternating order), as the targets read them: throughput x plain in each repetition and their median; p99 minus plain's p99 in each repetition and their median; latency of all ${REPEAT} runs' requests pooled:`);
      out.push(
        table([
          ['variant', 'x plain, each run', 'median', ...rates.flatMap((r) => [`${r}/s p99 - plain, each run`, 'median', 'pooled p50 ms', 'p99 ms', 'p99 - plain'])],
          ...VARIANTS.map((v) => [
            v,
            satRuns.map((r) => fmt(r[v]! / r.plain!, 3)).join(' '),
            fmt(pairedRatio(v), 3),
            ...rates.flatMap((r) => {
              const l = pooled(v, r);
              return [pairedAdded(v, r).map((d) => fmt(d, 2)).join(' '), fmt(medianAdded(v, r), 2), fmt(l.p50, 2), fmt(l.p99, 2), fmt(pooledAdded(v, r), 2)];
            }),
          ]),
        ]),
      );
    }
    if (bracketed.size > 0) {
      out.push('', `bracketed pairs (saturated, wrk -t1 -c${CONNECTIONS}, ${PAIR_PHASE} s each, back to back: plain, variant, plain, … plain; each variant phase x the mean of the plain phases around it):`);
      out.push(
        table([
          ['variant', 'plain req/s, each', 'variant req/s, each', 'x plain, each pair', 'median'],
          ...[...bracketed].map(([v, b]) => [v, b.plain.map((x) => fmt(x, 0)).join(' '), b.variant.map((x) => fmt(x, 0)).join(' '), b.ratios.map((x) => fmt(x, 3)).join(' '), fmt(bracketedRatio(v), 3)]),
        ]),
      );
    }
    // A model from CPU cost per request, which other load on a shared machine disturbs far less than throughput.
    const ncpu = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
    const envoyThreads = Number(args['envoy-concurrency']);
    // withPlb false: the same, as if presencelb cost nothing (what Envoy's own ext_proc and access log work allows).
    const capacity = (m: Measured<unknown>, withPlb = true) => {
      const per = (k: string) => (k === 'presencelb' && !withPlb ? 0 : (m.cpu[k] ?? 0) / Math.max(1, m.requests));
      const total = per('presencelb') + per('envoy') + per('upstream') + per('loadgen');
      return Math.min(ncpu / total, envoyThreads / per('envoy'));
    };
    // presencelb's CPU is shared by two JavaScript threads (the data path's and the lifecycle's): how busy each one
    // was is in the profile (--profile always), not in this estimate.
    out.push('', `estimate from CPU seconds per request (saturated phases): requests/s this ${ncpu}-CPU machine could serve with nothing else running, limited by all CPUs and by Envoy's ${envoyThreads} worker thread(s):`);
    out.push(
      table([
        ['variant', 'CPU ms/req: plb', 'Envoy', 'upstream', 'loadgen', 'est. req/s', 'est. x plain', 'x plain if plb cost 0', 'seen by plb'],
        ...VARIANTS.map((v) => {
          const m = sat.get(v)!;
          const per = (k: string) => fmt((1000 * (m.cpu[k] ?? NaN)) / Math.max(1, m.requests), 3);
          const plain = capacity(sat.get('plain')!);
          return [v, per('presencelb'), per('envoy'), per('upstream'), per('loadgen'), fmt(capacity(m), 0), fmt(capacity(m) / plain, 3), fmt(capacity(m, false) / plain, 3), seenShare(m, v)];
        }),
      ]),
    );
    out.push("  ('x plain if plb cost 0': the same estimate without presencelb's CPU: the ceiling Envoy's own work for ext_proc and the access log sets.)");
    out.push("  ('seen by plb': requests whose ext_proc stream worked, the rest Envoy let through untracked (failure_mode_allow); for access-log, requests whose log entry Envoy did not drop; not measured for flow-log, and for off-path only ext_proc's share (the flow log's entries are not counted: see 'file write failures'). 'others': CPU used meanwhile by processes this benchmark did not start. 'plb loop delay': how late presencelb's event loop ran, from a perf_hooks histogram put into it through the inspector.)");
    out.push('', `long run: blocking at ${latencyRate} req/s for ${DURATION} s: achieved ${fmt(long.load.achievedRps, 0)} req/s, p50 ${fmt(long.load.latencyMs.p50, 2)} ms, p99 ${fmt(long.load.latencyMs.p99, 2)} ms, errors ${long.load.non2xx + long.load.errors + long.load.unfinished}, seen by plb ${seenShare(long, 'blocking')}; presencelb ${fmt(per1000(long.cpu.presencelb, long.requests), 3)} CPU s/1k req (drain ${fmt(long.drainSec)} s), event-loop delay p99/max ${loopCols(long)[0]} ms; others ${fmt(long.othersCores, 2)} cores`);
    out.push(`  presencelb RSS (MiB) every ~5 s: ${rss.map((r) => mb(r.bytes)).join(' ')}`);
    // By quarter: a climb that levels off (the heap's pages coming back after an idle spell) reads apart from growth.
    const quarters = [0, 1, 2, 3].map((q) => rss.filter((r) => r.t >= (q * DURATION) / 4 && (q === 3 || r.t < ((q + 1) * DURATION) / 4)).map((r) => r.bytes));
    out.push(`  presencelb RSS by quarter of the long run, min/mean/max (MiB): ${quarters.map((b) => (b.length === 0 ? '-' : `${mb(Math.min(...b))}/${mb(b.reduce((a, x) => a + x, 0) / b.length)}/${mb(Math.max(...b))}`)).join('  ')}`);
    const heapSeries = (f: (h: HeapSample) => number) => rss.map((r) => (r.heap ? mb(f(r.heap)) : '?')).join(' ');
    out.push(`  main thread's V8 heap, reserved (MiB): ${heapSeries((h) => h.total)}`);
    out.push(`  main thread's old space, used (MiB; live and not yet collected): ${heapSeries((h) => h.old)}`);
    for (const space of ['old', 'new', 'large_object', 'code']) out.push(`  main thread's ${space} space, reserved (MiB): ${heapSeries((h) => h.reserved[space] ?? NaN)}`);
    out.push(`  RSS outside the main thread's heap (MiB; the data path's thread, SQLite, buffers, code): ${rss.map((r) => (r.heap ? mb(r.bytes - r.heap.total) : '?')).join(' ')}`);
    const dbBytes = ['presencelb.db', 'presencelb.db-wal'].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)).reduce((a, f) => a + fs.statSync(f).size, 0);
    out.push(`  SQLite store at the end: ${mb(dbBytes)} MiB (db + WAL)`);
    out.push('', 'ext_proc and access log counters (Envoy under test):');
    const counterRow = (name: string, m: Measured<unknown>) => [name, String(m.extProc.streams), String(m.extProc.failureModeAllowed), String(m.extProc.messageTimeouts), String(m.extProc.overflow), String(m.extProc.rejected5xx), String(m.extProc.accessLogsWritten), String(m.extProc.accessLogsDropped), String(m.extProc.fileWritesFailed)];
    out.push(
      table([
        ['phase', 'streams started', 'failure_mode_allowed', 'message_timeouts', 'cb overflow', 'ext_proc 5xx', 'ALS written', 'ALS dropped', 'file write failures'],
        ...VARIANTS.filter((v) => v !== 'plain').map((v) => counterRow(`saturated ${v}`, sat.get(v)!)),
        ...rates.flatMap((r) => VARIANTS.filter((v) => v !== 'plain').map((v) => counterRow(`${r}/s ${v}`, fixed.get(`${v}@${r}`)!))),
        counterRow('long run blocking', long),
      ]),
    );
    const problems = s.plb.problems();
    out.push('', `presencelb warnings/errors over the run: ${Object.keys(problems).length === 0 ? 'none' : ''}`);
    for (const [k, n] of Object.entries(problems)) out.push(`  ${n} x ${k}`);
    out.push('', 'targets:', table([['target', 'measured', 'met'], ...targets.map((t) => [t.what, t.value, t.met ? 'yes' : 'NO'])]));
    for (const [what, text] of Object.entries(profiles)) out.push('', `presencelb CPU profile, ${what}:`, text);
    for (const q of quietStates) {
      out.push('', q === 'stopped'
        ? `p99 added at ${latencyRate} req/s with presencelb stopped (SIGSTOP) during the phase: what Envoy's own configuration adds (each run paired with plain's):`
        : `p99 added at ${latencyRate} req/s with presencelb running under SCHED_IDLE during the phase (preempted at once by any other task that wakes; each run paired with plain's):`);
      for (const v of ['flow-log', 'off-path'] as const) out.push(`  ${v.padEnd(9)} ${quietAdded(q, v).map((x) => fmt(x, 2)).join(' ')}  median ${fmt(median(quietAdded(q, v)), 2)} ms; with presencelb running as launched (above): ${fmt(medianAdded(v, latencyRate), 2)} ms; requests failed or not 2xx: ${quietErrors.get(q)!.get(v) ?? 0}`);
    }
    for (const [v, lp] of latencyPairs) {
      out.push('', `bracketed latency pairs at ${latencyRate} req/s (plain, ${v}, plain, …; ${LATENCY_PAIR_PHASE} s each after a ${WARMUP_SEC} s warm-up; p99 in ms):`);
      out.push(`  plain    ${lp.plain.map((x) => fmt(x, 2)).join(' ')}`);
      out.push(`  ${v.padEnd(8)} ${lp.variant.map((x) => fmt(x, 2)).join(' ')}`);
      out.push(`  added    ${lp.added.map((x) => fmt(x, 2)).join(' ')}  median ${fmt(median(lp.added), 2)} ms; all phases' requests pooled: ${fmt(lp.pooledAdded, 2)} ms`);
    }
    if (heapProfile) out.push('', `presencelb heap profile, blocking at ${latencyRate} req/s:`, heapProfile);
    out.push('', `run directory (configs, logs, results.json): ${dir}`);
    process.stdout.write(`${out.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ args, warm, saturated: Object.fromEntries(sat), saturatedRuns: satRuns, bracketed: Object.fromEntries(bracketed), fixed: Object.fromEntries(fixed), fixedPooled: Object.fromEntries([...fixedRuns].map(([k, runs]) => [k, pooledPercentiles(runs.map((run) => run.latencies))])), long, rss, targets, problems, p99WithPresencelbStopped: Object.fromEntries(quietRuns.get('stopped')!), p99WithPresencelbIdle: Object.fromEntries(quietRuns.get('idle') ?? []), latencyPairs: Object.fromEntries(latencyPairs) }, null, 2));
  } finally {
    progress('stopping every process');
    await stop();
  }
}

await main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`dataplane benchmark failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
