/**
 * The tests' port allocator: ports below the kernel's ephemeral range, each reserved for one test process at a time.
 * (Before it, two test processes were handed the same port, and presencelb failed to start with EADDRINUSE.)
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, freePorts, lockFile, reservePort, testPortRange } from './ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** portsOfChild runs freePorts(n) in a separate Node process, which then waits holdMs before exiting. */
async function portsOfChild(n: number, holdMs: number): Promise<{ pid: number; ports: number[] }> {
  const script = `import { freePorts } from './test/harness/ports.ts'; console.log(JSON.stringify({ pid: process.pid, ports: await freePorts(${n}) })); await new Promise((r) => setTimeout(r, ${holdMs}));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { cwd: ROOT });
  return JSON.parse(stdout) as { pid: number; ports: number[] };
}

/** lockOwner is the pid a port's lock file names, or null without one. */
function lockOwner(port: number): number | null {
  try {
    return Number(fs.readFileSync(lockFile(port), 'utf8'));
  } catch {
    return null;
  }
}

test('ports come from below the ephemeral range, are distinct, and are locked by this process', async (t) => {
  const [low, high] = testPortRange();
  const ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  t.is(high, ephemeralLow - 1);
  t.true(low >= 1024 && low < high);
  const ports = await freePorts(50);
  t.is(new Set(ports).size, 50);
  for (const p of ports) {
    t.true(p >= low && p <= high, `${p} in ${low}-${high}`);
    t.is(lockOwner(p), process.pid);
    t.false(reservePort(p), 'a port already reserved is not handed out again');
  }
});

test('two processes asking at once never get the same port', async (t) => {
  const [a, b] = await Promise.all([portsOfChild(300, 1500), portsOfChild(300, 1500)]);
  t.is(a!.ports.length, 300);
  t.is(b!.ports.length, 300);
  t.deepEqual(a!.ports.filter((p) => b!.ports.includes(p)), []);
  // The children have exited: their locks went with them (another test process may hold one of the ports by now).
  for (const c of [a!, b!]) for (const p of c.ports) t.not(lockOwner(p), c.pid, `lock of ${p} removed at exit`);
});

test('a lock held by a live process is honoured; one whose owner is gone is taken over', async (t) => {
  const [low, high] = testPortRange();
  const port = await freePort();
  // Hand this port's lock to a live process (a child that sleeps), then to a dead one.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill());
  fs.writeFileSync(lockFile(port), String(child.pid));
  t.false(reservePort(port), 'held by a live process');
  child.kill();
  await new Promise((r) => child.once('exit', r));
  t.true(reservePort(port), 'taken over once its owner is gone');
  t.is(lockOwner(port), process.pid);
  t.true(port >= low && port <= high);
});

test('a port something already listens on is skipped, and its reservation dropped', async (t) => {
  const port = await freePort();
  const server = await new Promise<net.Server>((resolve) => {
    const s = net.createServer().listen(port, '127.0.0.1', () => resolve(s));
  });
  fs.unlinkSync(lockFile(port)); // as if its holder had died: only the listening socket keeps freePort away now
  await t.throwsAsync(freePort([port, port]), { message: new RegExp(`no free port in ${port}-${port}`) });
  t.not(lockOwner(port), process.pid, 'the reservation taken while checking is given back');
  await new Promise((r) => server.close(r));
  t.is(await freePort([port, port]), port, 'free again once nothing listens');
});
