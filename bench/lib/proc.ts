/**
 * What the kernel says about processes and the machine, read from /proc: CPU time (utime + stime) of a process or
 * of a process and all its descendants, resident memory, and the machine's busy and total CPU time. Linux only.
 */
import fs from 'node:fs';

/** CLOCK_TICKS is the kernel's USER_HZ: /proc reports CPU time in these ticks (100 on every Linux we run on). */
const CLOCK_TICKS = 100;

interface StatFields {
  readonly comm: string;
  readonly ppid: number;
  readonly ticks: number;
}

/** readStat reads a stat file of /proc (a process's, or one of its threads' under task/), or null if it is gone. */
function readStat(file: string): StatFields | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); ppid is field 4, utime field 14, stime field 15.
  return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** threadCpu reads each thread of a process: the CPU seconds it has used (utime + stime) and its name (comm), by thread id. */
export function threadCpu(pid: number): Map<number, { comm: string; seconds: number }> {
  const out = new Map<number, { comm: string; seconds: number }>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const s = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (s) out.set(Number(tid), { comm: s.comm, seconds: s.ticks / CLOCK_TICKS }); // (null: the thread ended meanwhile)
  }
  return out;
}

/** cpuSeconds returns the CPU time (user + system) a process has used so far, or NaN if it is gone. */
export function cpuSeconds(pid: number): number {
  const s = readStat(`/proc/${pid}/stat`);
  return s ? s.ticks / CLOCK_TICKS : NaN;
}

/** treeCpuSeconds returns the CPU time of a process and every live descendant (e.g. Kamailio and its workers). */
export function treeCpuSeconds(rootPid: number): number {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(`/proc/${entry}/stat`);
    if (!s) continue;
    ticks.set(Number(entry), s.ticks);
    const list = children.get(s.ppid) ?? [];
    list.push(Number(entry));
    children.set(s.ppid, list);
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += ticks.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total / CLOCK_TICKS;
}

/** rssBytes returns a process's resident set size (VmRSS), or NaN if it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** MachineCpu is the machine's CPU time so far, in seconds summed over all CPUs. */
export interface MachineCpu {
  readonly busy: number;
  readonly total: number;
}

/** machineCpu reads the first line of /proc/stat (busy = everything but idle and iowait). */
export function machineCpu(): MachineCpu {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/** CpuMeter measures the CPU seconds of a set of named processes and of the whole machine between two instants. */
export class CpuMeter {
  private readonly start: Map<string, number>;
  private readonly machineStart: MachineCpu;
  private readonly t0 = Date.now();

  /** procs maps a name to a function returning that thing's CPU seconds so far. */
  constructor(private readonly procs: ReadonlyMap<string, () => number>) {
    this.start = new Map([...procs].map(([k, f]) => [k, f()]));
    this.machineStart = machineCpu();
  }

  /** read returns the CPU seconds each process used since construction, the machine's busy seconds, and the wall time. */
  read(): { perProcess: Record<string, number>; machineBusy: number; machineTotal: number; wallSec: number } {
    const perProcess: Record<string, number> = {};
    for (const [k, f] of this.procs) perProcess[k] = f() - (this.start.get(k) ?? 0);
    const m = machineCpu();
    return { perProcess, machineBusy: m.busy - this.machineStart.busy, machineTotal: m.total - this.machineStart.total, wallSec: (Date.now() - this.t0) / 1000 };
  }
}

/**
 * trackCpu samples a short-lived process's CPU seconds every 200 ms and keeps the last reading, so that about how
 * much it used is still known after it has exited (a load generator); stop() ends the sampling.
 */
export function trackCpu(pid: number): { value: () => number; stop: () => void } {
  let last = cpuSeconds(pid);
  if (!Number.isFinite(last)) last = 0;
  const t = setInterval(() => {
    const v = cpuSeconds(pid);
    if (Number.isFinite(v)) last = v;
  }, 200);
  t.unref();
  return { value: () => last, stop: () => clearInterval(t) };
}

/** ownCpuSeconds is the CPU time of this (benchmark) process so far. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
