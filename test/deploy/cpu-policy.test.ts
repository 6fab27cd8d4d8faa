/**
 * config cpu.policy (src/runtime/cpu-policy.ts): 'idle' puts every thread of presencelb under SCHED_IDLE at start,
 * the threads it makes afterwards included (the data path's thread, libuv's pool); 'normal' (the default) leaves
 * the policy it was started with. A policy that cannot be set stops `presencelb serve` with a configuration error.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { parseConfig } from '../../src/config/load.ts';
import { applyCpuPolicy } from '../../src/runtime/cpu-policy.ts';
import { isPlbError } from '../../src/core/errors.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { startPresencelb, type Presencelb } from '../harness/presencelb.ts';

/** SCHED_IDLE is Linux's number for the policy (as in /proc/<pid>/task/<tid>/stat and sched_setscheduler(2)). */
const SCHED_IDLE = 5;

/**
 * threadPolicies reads the scheduling policy of every thread of process pid from /proc (thread id → policy number;
 * 0 is SCHED_OTHER). Threads that end while it reads are left out.
 */
function threadPolicies(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // After the command name (in parentheses, which may hold spaces), fields start at 3 (state); policy is field 41.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[41 - 3]));
  }
  return out;
}

test('cpu.policy defaults to normal; anything but normal or idle is refused at its path', (t) => {
  const d = parseConfig({});
  t.true(d.ok);
  if (d.ok) t.is(d.value.cpu.policy, 'normal');
  const bad = parseConfig({ cpu: { policy: 'realtime' } });
  t.false(bad.ok);
  if (!bad.ok) t.deepEqual(bad.errors.map((e) => e.path), ['cpu.policy']);
});

test('applyCpuPolicy idle puts every thread of a process under SCHED_IDLE; normal changes nothing', async (t) => {
  // A Node child: several threads of its own (V8's platform workers) from the start.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const before = threadPolicies(child.pid!);
  t.true(before.size > 1, `${before.size} threads`);
  t.false([...before.values()].includes(SCHED_IDLE));
  applyCpuPolicy('normal', child.pid!);
  t.deepEqual(threadPolicies(child.pid!), before);
  applyCpuPolicy('idle', child.pid!);
  const after = threadPolicies(child.pid!);
  t.is(after.size, before.size);
  t.deepEqual([...new Set(after.values())], [SCHED_IDLE]);
});

test('applyCpuPolicy idle on a process that is not there: a CONFIG_INVALID error naming cpu.policy', (t) => {
  const e = t.throws(() => applyCpuPolicy('idle', 2 ** 22 + 12345));
  t.true(isPlbError(e, 'CONFIG_INVALID'));
  t.regex(e!.message, /^cpu\.policy: idle: could not put process \d+ under SCHED_IDLE/);
});

let kamailio: Kamailio | undefined;
const running: Presencelb[] = [];
test.before(async () => {
  kamailio = await startKamailio();
});
test.after.always(async () => {
  for (const p of running) await p.stop().catch(() => undefined);
  await kamailio?.stop();
});

/** serve starts presencelb with cpu and returns it with its pid (from its ready line). */
async function serve(cpu: Record<string, unknown> | undefined): Promise<{ plb: Presencelb; pid: number; policy: unknown }> {
  const plb = await startPresencelb({
    presence: { wsUrl: kamailio!.wsUrl, domain: 'presencelb.test' },
    applicationServers: [{ name: 'app-a', host: '127.0.0.1', port: 8081 }],
    extProc: { listen: '127.0.0.1:0' },
    xds: { listen: '127.0.0.1:0' },
    ...(cpu ? { cpu } : {}),
  });
  running.push(plb);
  const ready = plb.lines.find((l) => l.msg === 'presencelb ready');
  return { plb, pid: Number(ready?.pid), policy: ready?.cpuPolicy };
}

test.serial('presencelb serve with cpu.policy idle: every thread under SCHED_IDLE, the data path’s thread included; by default none', async (t) => {
  const idle = await serve({ policy: 'idle' });
  t.is(idle.policy, 'idle', 'the ready line says so');
  const policies = threadPolicies(idle.pid);
  // The main thread, V8's and libuv's helpers, and the data path's worker thread with its own helpers.
  t.true(policies.size >= 8, `${policies.size} threads`);
  t.deepEqual([...new Set(policies.values())], [SCHED_IDLE], JSON.stringify([...policies]));
  await idle.plb.stop();

  const plain = await serve(undefined);
  t.is(plain.policy, 'normal');
  const normal = threadPolicies(plain.pid);
  t.true(normal.size >= 8);
  t.false([...normal.values()].includes(SCHED_IDLE), JSON.stringify([...normal]));
});
