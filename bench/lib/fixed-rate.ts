/** Runs bench/clients/fixed-rate.ts in its own process (so its CPU is not the measured processes') and parses its report. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { atRank } from './stats.ts';

const CLIENT = fileURLToPath(new URL('../clients/fixed-rate.ts', import.meta.url));

/** FixedRateResult is the client's report (latencies in ms from each request's due time). */
export interface FixedRateResult {
  readonly sent: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly unfinished: number;
  readonly seconds: number;
  readonly achievedRps: number;
  /** warmup: requests of the unmeasured warm-up (same rate) sent and finished; in cpuSec, not in the other figures. */
  readonly warmup: { readonly sent: number; readonly done: number };
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number | null };
  readonly maxLagMs: number;
  readonly cpuSec: number;
}

/**
 * CLIENT_NODE_ARGS: V8's memory reducer off in the client. Started about 8 s into a fresh process, it ran full
 * collections (`Mark-Compact (reduce)`, 8-16 ms each on two threads) during every 10 s phase, and the slowest 1% of
 * requests at 3,200 req/s gathered in those 100 ms windows, plain Envoy's as much as any variant's (28 November
 * 2026, --trace-gc). The client's heap stays under 20 MB, so nothing needs reducing.
 */
const CLIENT_NODE_ARGS = ['--no-memory-reducer'];

/** WARMUP_SEC: the unmeasured warm-up every fixed-rate phase starts with unless told otherwise (see the client). */
export const WARMUP_SEC = 1;

/**
 * startFixedRate starts the client; `done` resolves with its report. warmupSec (default WARMUP_SEC) of the same load run first
 * and are left out of the figures (see the client).
 */
export function startFixedRate(o: { url: string; usersFile: string; rate: number; seconds: number; connections?: number; latenciesFile?: string; warmupSec?: number }): { pid: number; done: Promise<FixedRateResult> } {
  const child = spawn(
    process.execPath,
    [...CLIENT_NODE_ARGS, '--import', 'tsx', CLIENT, '--warmup', String(o.warmupSec ?? WARMUP_SEC), '--url', o.url, '--users', o.usersFile, '--rate', String(o.rate), '--seconds', String(o.seconds), '--connections', String(o.connections ?? 256), ...(o.latenciesFile ? ['--latencies', o.latenciesFile] : [])],
    { cwd: path.dirname(CLIENT), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<FixedRateResult>((resolve, reject) =>
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as FixedRateResult);
      } catch {
        reject(new Error(`fixed-rate client exited ${code}: ${err.slice(-2000)}`));
      }
    }),
  );
  return { pid: child.pid!, done };
}

/** readLatencies reads the file a run with latenciesFile wrote: every request's latency in ms (Infinity: unfinished). */
export function readLatencies(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** percentiles of latencies pooled from several runs (nearest rank, as the client computes them for one run). */
export function pooledPercentiles(runs: readonly Float32Array[]): { p50: number; p90: number; p99: number; p999: number; count: number } {
  const all = new Float64Array(runs.reduce((n, r) => n + r.length, 0));
  let k = 0;
  for (const r of runs) for (const x of r) all[k++] = x;
  all.sort();
  return { p50: atRank(all, 50), p90: atRank(all, 90), p99: atRank(all, 99), p999: atRank(all, 99.9), count: all.length };
}
