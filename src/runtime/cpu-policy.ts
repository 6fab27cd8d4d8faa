/**
 * presencelb's CPU scheduling policy (config cpu.policy), set on the whole process once, at start.
 *
 * 'normal' leaves the policy presencelb was started with (a launcher's nice level included). 'idle' puts every
 * thread under Linux's SCHED_IDLE: whenever any other task wakes up on a core presencelb is using, the kernel runs
 * it at once, where a nice level only lowers presencelb's share of the CPU and a nice task may keep the core a while.
 * Envoy's requests then do not wait behind presencelb's work; presencelb gets what CPU the others leave, and almost
 * none while they keep every core busy. Use it where nothing on the request path waits for presencelb
 * (flow-log and access-log modes, extProc.offPath); ARCHITECTURE.md, "presencelb at SCHED_IDLE", has the figures.
 *
 * Node has no call for it, so util-linux's chrt(1) sets it; threads made later (the data path's thread, libuv's pool)
 * inherit the policy of the thread that makes them.
 */
import { execFileSync } from 'node:child_process';
import { PlbError } from '../core/errors.ts';

/** CpuPolicy is config cpu.policy. */
export type CpuPolicy = 'normal' | 'idle';

/**
 * applyCpuPolicy sets the policy on every thread of process pid (default: this one). 'normal' does nothing. A failure
 * (no chrt, not Linux) is a CONFIG_INVALID error naming cpu.policy: presencelb does not run with a policy it was not
 * given.
 */
export function applyCpuPolicy(policy: CpuPolicy, pid: number = process.pid): void {
  if (policy === 'normal') return;
  try {
    execFileSync('chrt', ['--all-tasks', '--idle', '--pid', '0', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const detail = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
    throw new PlbError('CONFIG_INVALID', `cpu.policy: idle: could not put process ${pid} under SCHED_IDLE with chrt(1) (util-linux): ${detail}`, { cause: e });
  }
}
