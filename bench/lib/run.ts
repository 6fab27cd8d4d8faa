/**
 * What every benchmark run shares: a run directory, progress lines, users, a stop-everything hook for Ctrl-C and
 * errors, and waiting for presencelb to go quiet after a load phase (its queued work included in what is measured).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuSeconds, machineCpu } from './proc.ts';
import { sleep } from './stats.ts';

/** runDir creates /tmp/plb-bench-<name>-<time>/ for the run's configs, logs, profiles and results. */
export function runDir(name: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return fs.mkdtempSync(path.join(os.tmpdir(), `plb-bench-${name}-${stamp}-`));
}

/**
 * inRepetition is the order items run in repetition rep (from 1): as listed in odd ones, reversed in even ones, so
 * that a drift of the machine's load over a repetition does not always favour the same items.
 */
export function inRepetition<T>(items: readonly T[], rep: number): readonly T[] {
  return rep % 2 === 1 ? items : [...items].reverse();
}

/** progress prints one progress line (prefixed '#', with the seconds since start). */
const t0 = Date.now();
export function progress(msg: string): void {
  process.stdout.write(`# ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s  ${msg}\n`);
}

/** newUsers returns n fresh random UUIDs. */
export function newUsers(n: number): string[] {
  return Array.from({ length: n }, () => randomUUID());
}

/** writeUsers writes users one a line to dir/name and returns the path. */
export function writeUsers(dir: string, name: string, users: readonly string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${users.join('\n')}\n`);
  return file;
}

/**
 * stopHook returns a function that runs cleanup once; it also runs, on SIGINT/SIGTERM or when called; the benchmark's main calls it in `finally`.
 */
export function stopHook(cleanup: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  const run = (): Promise<void> =>
    (done ??= cleanup().catch((e: unknown) => {
      process.stderr.write(`cleanup: ${String(e)}\n`);
    }));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping every process this benchmark started\n`);
      void run().then(() => process.exit(130));
    });
  }
  return run;
}

/**
 * waitQuiet waits until process pid uses less than `share` of a core over `windowMs` (presencelb has worked off
 * what a load phase queued), at most maxMs. It resolves with the seconds waited.
 */
export async function waitQuiet(pid: number, o: { share?: number; windowMs?: number; maxMs?: number } = {}): Promise<number> {
  const t = Date.now();
  const windowMs = o.windowMs ?? 1000;
  for (;;) {
    const c0 = cpuSeconds(pid);
    await sleep(windowMs);
    const used = cpuSeconds(pid) - c0;
    if (!(used / (windowMs / 1000) >= (o.share ?? 0.05))) return (Date.now() - t - windowMs) / 1000;
    if (Date.now() - t > (o.maxMs ?? 120000)) return (Date.now() - t) / 1000;
  }
}

/**
 * waitMachineQuiet waits (at most maxSec) until the whole machine has used less than maxBusyCores of CPU over two
 * consecutive seconds: other work on a shared machine (test suites, compilers) would otherwise be measured too.
 * It resolves with the seconds waited and the busy cores seen last.
 */
export async function waitMachineQuiet(maxSec: number, maxBusyCores = 0.3): Promise<{ waitedSec: number; busyCores: number }> {
  const t = Date.now();
  let calm = 0;
  let busyCores = NaN;
  for (;;) {
    const a = machineCpu();
    await sleep(1000);
    const b = machineCpu();
    busyCores = b.busy - a.busy; // over one second: CPU-seconds per second = cores
    calm = busyCores < maxBusyCores ? calm + 1 : 0;
    if (calm >= 2 || (Date.now() - t) / 1000 >= maxSec) return { waitedSec: (Date.now() - t) / 1000, busyCores };
  }
}
