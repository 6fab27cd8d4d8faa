/**
 * presencelb as a benchmark runs it: the `presencelb serve` command in a child process (extra Node arguments
 * allowed, e.g. --inspect for the CPU profiler), a YAML config in the run directory, its JSON log written to
 * dir/presencelb.log and counted as it arrives (claim steps ok and failed, warnings and errors by message).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../test/harness/envoy.ts';
import { parseExposition } from '../../test/harness/exposition.ts';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';

const BIN = path.join(REPO_ROOT, 'bin/presencelb.mjs');

/** LogLine is one parsed JSON log line (pino: level, time as ISO 8601, msg, and the event's fields). */
export interface LogLine {
  readonly level: number;
  readonly time: string;
  readonly msg?: string;
  readonly event?: string;
  readonly user?: string;
  readonly ok?: boolean;
  readonly [k: string]: unknown;
}

/** BenchPresencelb is a running presencelb. */
export interface BenchPresencelb {
  readonly pid: number;
  readonly dir: string;
  readonly logFile: string;
  /** inspectorUrl is the DevTools WebSocket of the process when it was started with --inspect, else null. */
  readonly inspectorUrl: string | null;
  /** metricsUrl is presencelb's Prometheus endpoint (http://127.0.0.1:<metrics port>/metrics), from its ready line. */
  readonly metricsUrl: string;
  /** count returns how many claim events `step` (e.g. 'subscribe') were logged ok (or failed, with ok false). */
  count(step: string, ok?: boolean): number;
  /** problems returns warn-and-above messages (with their codes) and how often each was logged. */
  problems(): Record<string, number>;
  /** onLine calls fn for every later parsed log line; the returned function stops that. */
  onLine(fn: (l: LogLine) => void): () => void;
  /** exitCode is null while the process runs. */
  exitCode(): number | null;
  /** assertAlive throws, with the end of presencelb's stderr, if the process has exited. */
  assertAlive(when: string): void;
  /** stop sends SIGCONT (in case it was stopped) and SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * headerIdentity returns the identity section that makes presencelb read `x-user-id`: with `source: header` when
 * this tree's config schema knows that field (asked with `presencelb config check`), else the header alone.
 */
export function headerIdentity(dir: string): { identity: Record<string, string>; note: string } {
  const file = path.join(dir, 'identity-probe.yaml');
  fs.writeFileSync(file, stringify({ identity: { source: 'header', header: 'x-user-id' } }));
  try {
    execFileSync(process.execPath, [BIN, 'config', 'check', '-c', file], { cwd: REPO_ROOT, stdio: 'pipe', env: cleanEnv() });
    return { identity: { source: 'header', header: 'x-user-id' }, note: 'identity.source: header (x-user-id)' };
  } catch {
    return { identity: { header: 'x-user-id' }, note: 'identity.header x-user-id (this tree has no identity.source)' };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PRESENCELB_STORE_URL;
  delete env.PRESENCELB_LOG_LEVEL;
  delete env.PRESENCELB_BENCH_NODE_ARGS;
  return env;
}

/**
 * extraNodeArgs: PRESENCELB_BENCH_NODE_ARGS (space-separated), node options for presencelb alone when diagnosing a
 * run, e.g. `--trace-gc` (its lines land in presencelb.log beside the JSON ones); V8 refuses many in NODE_OPTIONS.
 */
function extraNodeArgs(): string[] {
  return (process.env.PRESENCELB_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

/** launchPresencelb writes config to dir/presencelb.yaml, starts `presencelb serve` and resolves once it is ready. */
export async function launchPresencelb(config: Record<string, unknown>, o: { dir: string; nodeArgs?: readonly string[]; nice?: number }): Promise<BenchPresencelb> {
  const configFile = path.join(o.dir, 'presencelb.yaml');
  fs.writeFileSync(configFile, stringify(config));
  const logFile = path.join(o.dir, 'presencelb.log');
  const log = fs.createWriteStream(logFile);
  const errLog = fs.createWriteStream(path.join(o.dir, 'presencelb.stderr.log'));
  // nice: presencelb at a lower CPU priority than Envoy (nice(1) execs Node, so the pid stays presencelb's).
  const argv = [process.execPath, ...NODE_FLAGS, ...extraNodeArgs(), ...(o.nodeArgs ?? []), BIN, 'serve', '-c', configFile];
  const [cmd, ...args] = o.nice ? ['nice', '-n', String(o.nice), ...argv] : argv;
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: REPO_ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const counts = new Map<string, number>();
  const problems = new Map<string, number>();
  const listeners = new Set<(l: LogLine) => void>();
  let inspectorUrl: string | null = null;
  let metricsUrl = '';
  let ready = false;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    log.write(d);
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const raw = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let l: LogLine;
      try {
        l = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      if (typeof l.event === 'string' && l.event.startsWith('claim.')) {
        const key = `${l.event.slice(6)}${l.ok === false ? '!' : ''}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      if (l.level >= 40) {
        const key = `${l.level >= 50 ? 'error' : 'warn'}: ${l.msg ?? ''}${typeof l.code === 'string' ? ` [${l.code}]` : ''}`;
        problems.set(key, (problems.get(key) ?? 0) + 1);
      }
      if (l.msg === 'presencelb ready') {
        ready = true;
        metricsUrl = `http://127.0.0.1:${String(l.metricsPort)}/metrics`;
      }
      for (const fn of listeners) fn(l);
    }
  });
  let stderrText = '';
  child.stderr!.on('data', (d: Buffer) => {
    errLog.write(d);
    stderrText += d.toString();
    const m = /Debugger listening on (ws:\/\/\S+)/.exec(stderrText);
    if (m && !inspectorUrl) inspectorUrl = m[1]!;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30000;
  while (!ready) {
    if (child.exitCode !== null) throw new Error(`presencelb exited with ${child.exitCode} before it was ready:\n${stderrText.slice(-3000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`presencelb not ready in 30 s:\n${stderrText.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid!,
    dir: o.dir,
    logFile,
    get inspectorUrl() {
      return inspectorUrl;
    },
    metricsUrl,
    count: (step, ok = true) => counts.get(`${step}${ok ? '' : '!'}`) ?? 0,
    problems: () => Object.fromEntries(problems),
    onLine(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    exitCode: () => child.exitCode,
    assertAlive(when) {
      if (child.exitCode === null && child.signalCode === null) return;
      throw new Error(`presencelb exited (${child.exitCode ?? child.signalCode}) ${when}; the end of its stderr:\n${stderrText.slice(-2500)}`);
    },
    async stop(graceMs = 10000) {
      if (child.exitCode === null && child.signalCode === null) {
        // A benchmark interrupted while presencelb was stopped (SIGSTOP, for a phase without it) resumes it first,
        // so that it can stop cleanly (a stopped process holds SIGTERM until it runs again).
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      await new Promise<void>((r) => log.end(() => r()));
      await new Promise<void>((r) => errLog.end(() => r()));
    },
  };
}

/** HeapSample is the main thread's V8 heap as presencelb's metrics endpoint reports it (prom-client's defaults). */
export interface HeapSample {
  /** total: nodejs_heap_size_total_bytes, the heap V8 has reserved. */
  readonly total: number;
  /** old: nodejs_heap_space_size_used_bytes{space="old"}, what the old space holds (live or not yet collected). */
  readonly old: number;
  /** reserved: nodejs_heap_space_size_total_bytes of each space V8 reports (old, new, large_object, code, ...). */
  readonly reserved: Readonly<Record<string, number>>;
}

/** readHeap scrapes metricsUrl once; a failed scrape or a missing series resolves with null. */
export async function readHeap(metricsUrl: string): Promise<HeapSample | null> {
  try {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return null;
    const all = parseExposition(await res.text());
    const total = all.find((s) => s.name === 'nodejs_heap_size_total_bytes')?.value;
    const old = all.find((s) => s.name === 'nodejs_heap_space_size_used_bytes' && s.labels.space === 'old')?.value;
    if (total === undefined || old === undefined) return null;
    const reserved = Object.fromEntries(all.filter((s) => s.name === 'nodejs_heap_space_size_total_bytes').map((s) => [s.labels.space ?? '', s.value]));
    return { total, old, reserved };
  } catch {
    return null;
  }
}
