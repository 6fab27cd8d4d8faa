/**
 * Free TCP ports on 127.0.0.1 for the processes a test starts.
 *
 * A port the kernel picks (listen on 0) comes from its ephemeral range, the same range it draws from for every
 * outgoing connection's source port; and once released for a child process to bind, another test process may be
 * handed the same one. Both happened in CI (EADDRINUSE on a port freePort had just returned). So ports come from
 * below the ephemeral range, where the kernel never picks on its own, and each one is reserved for the whole test
 * process with a lock file (created exclusively, holding the owner's pid) that every test process on the machine
 * honours. A lock whose owner is gone is taken over.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const LOCK_DIR = path.join(os.tmpdir(), 'presencelb-test-ports');
/** SPAN is how many ports below the ephemeral range tests draw from. */
const SPAN = 10000;
const held = new Set<string>();

/** lockFile is where the reservation of port is kept. */
export const lockFile = (port: number): string => path.join(LOCK_DIR, String(port));

let range: readonly [number, number] | null = null;
let lockDirMade = false;

/** testPortRange is [low, high] for test ports: the SPAN ports just below the kernel's ephemeral range. */
export function testPortRange(): readonly [number, number] {
  if (range) return range;
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    /* not Linux: the usual default */
  }
  const high = ephemeralLow - 1;
  range = [Math.max(1024, high - SPAN + 1), high];
  return range;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** reservePort takes the lock file of port for this process, or returns false if a live process holds it. */
export function reservePort(port: number): boolean {
  if (!lockDirMade) {
    fs.mkdirSync(LOCK_DIR, { recursive: true });
    lockDirMade = true;
  }
  const file = lockFile(port);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      held.add(file);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue; // removed meanwhile: try again
      }
      // An empty file is a lock being written right now: treat it as held.
      if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) return false;
      try {
        fs.unlinkSync(file);
      } catch {
        /* another process took it over first; the next wx decides */
      }
    }
  }
  return false;
}

function release(file: string): void {
  held.delete(file);
  try {
    fs.unlinkSync(file);
  } catch {
    /* already gone */
  }
}

process.once('exit', () => {
  for (const file of [...held]) release(file);
});

/** bindable checks that nothing listens on 127.0.0.1:port right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * freePort returns a port on 127.0.0.1 that nothing listens on, reserved for this process until it exits. within
 * narrows the search (for the allocator's own tests).
 */
export async function freePort(within: readonly [number, number] = testPortRange()): Promise<number> {
  const [low, high] = within;
  const size = high - low + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = low + ((start + i) % size);
    if (!reservePort(port)) continue;
    if (await bindable(port)) return port;
    release(lockFile(port));
  }
  throw new Error(`no free port in ${low}-${high} (locks in ${LOCK_DIR})`);
}

/** freePorts returns n distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) out.push(await freePort());
  return out;
}

/** waitFor polls check every intervalMs until it returns a truthy value or timeoutMs passes (then throws). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
