/**
 * A real Kamailio (kamailio/kamailio.cfg) as a child process for integration tests: a fresh run directory under
 * os.tmpdir(), a free port on 127.0.0.1, ready once it answers JSON-RPC. kamailioCommand() is the one place the
 * command line is built; scripts that start Kamailio by hand should print it with
 *   npx tsx -e "import('./test/harness/kamailio.ts').then(m => console.log(m.kamailioShellCommand(5070, '/tmp/k')))"
 * (equivalently: /usr/sbin/kamailio -f kamailio/kamailio.cfg -DD -E -m 256 -M 16 -A 'LISTEN=tcp:127.0.0.1:PORT'
 *  -Y RUNDIR -P RUNDIR/kamailio.pid -w RUNDIR).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './ports.ts';

/** KAMAILIO_CFG is the absolute path of the repository's Kamailio configuration. */
export const KAMAILIO_CFG = fileURLToPath(new URL('../../kamailio/kamailio.cfg', import.meta.url));

/** KamailioCommandOptions tunes the process; the defaults suit tests. */
export interface KamailioCommandOptions {
  readonly binary?: string;
  readonly cfg?: string;
  /** shmMb is Kamailio's shared memory (-m); FACTS: below 512 fails from about 500 presence changes/s. */
  readonly shmMb?: number;
  readonly pkgMb?: number;
  /** debug overrides the cfg's log level (--debug), e.g. 3 to see every message. */
  readonly debug?: number;
}

/** kamailioCommand returns the binary and argv that run kamailio.cfg in the foreground on 127.0.0.1:port. */
export function kamailioCommand(port: number, runDir: string, opts: KamailioCommandOptions = {}): { command: string; args: string[] } {
  const args = [
    '-f', opts.cfg ?? KAMAILIO_CFG,
    '-DD', '-E',
    '-m', String(opts.shmMb ?? 256),
    '-M', String(opts.pkgMb ?? 16),
    '-A', `LISTEN=tcp:127.0.0.1:${port}`,
    '-Y', runDir,
    '-P', path.join(runDir, 'kamailio.pid'),
    '-w', runDir,
  ];
  if (opts.debug !== undefined) args.push(`--debug=${opts.debug}`);
  return { command: opts.binary ?? '/usr/sbin/kamailio', args };
}

/** kamailioShellCommand renders kamailioCommand() as one shell-quoted line. */
export function kamailioShellCommand(port: number, runDir: string, opts: KamailioCommandOptions = {}): string {
  const { command, args } = kamailioCommand(port, runDir, opts);
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [command, ...args].map(q).join(' ');
}

/**
 * usrlocKey turns an AOR URI into the key usrloc files it under: kamailio.cfg keeps usrloc's default
 * use_domain=0, so the key is the user part alone ('sip:lb-x@d' -> 'lb-x').
 */
export function usrlocKey(aor: string): string {
  return aor.replace(/^sips?:/, '').replace(/@.*$/, '');
}

/** KamailioBinding is one contact Kamailio holds for an AOR (from ul.lookup). */
export interface KamailioBinding {
  readonly contact: string;
  readonly received: string | null;
  readonly expires: number;
}

/** Kamailio is a running presence server. */
export interface Kamailio {
  readonly port: number;
  /** wsUrl is SIP over WebSocket on the port, ws://127.0.0.1:PORT. */
  readonly wsUrl: string;
  /** tcpUrl is SIP over TCP on the same port, tcp://127.0.0.1:PORT. */
  readonly tcpUrl: string;
  readonly runDir: string;
  /** rpc calls a JSON-RPC method; resolves with its result, rejects with the JSON-RPC error message. */
  rpc(method: string, params?: unknown[]): Promise<any>;
  /** bindingsOf returns the contacts registered for aor ([] if none). */
  bindingsOf(aor: string): Promise<KamailioBinding[]>;
  /** hasSubscribers says whether the presence module holds any 'presence' subscription for the presentity. */
  hasSubscribers(presentityUri: string): Promise<boolean>;
  /** presentities returns presence.presentity_list full: every publication held in memory. */
  presentities(): Promise<any[]>;
  /** logs returns everything Kamailio wrote to stdout and stderr so far. */
  logs(): string;
  stop(): Promise<void>;
  /** restart stops Kamailio and starts it again on the same port (all in-memory state is lost). */
  restart(): Promise<void>;
}

/** startKamailio starts Kamailio on a free port and resolves once it answers JSON-RPC (rejects after 15 s). */
export async function startKamailio(opts: KamailioCommandOptions & { port?: number } = {}): Promise<Kamailio> {
  const port = opts.port ?? (await freePort());
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'plb-kamailio-'));
  let output = '';
  let child: ChildProcess | null = null;

  const rpc = async (method: string, params: unknown[] = []): Promise<any> => {
    const res = await httpRequest(port, 'POST', '/RPC', JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }));
    const body = JSON.parse(res.body) as { result?: unknown; error?: { code: number; message: string } };
    if (body.error) throw Object.assign(new Error(`${method}: ${body.error.message}`), { rpcCode: body.error.code });
    return body.result;
  };

  const launch = async (): Promise<void> => {
    const { command, args } = kamailioCommand(port, runDir, opts);
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // If the test process ends without stop() (a crash, a failed hook), do not leave Kamailio running.
    const orphanGuard = () => {
      proc.kill('SIGTERM');
      rmSync(runDir, { recursive: true, force: true });
    };
    process.once('exit', orphanGuard);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      process.removeListener('exit', orphanGuard);
    });
    await waitFor(`Kamailio to answer JSON-RPC on port ${port}`, async () => {
      if (exited) throw new Error(`kamailio exited early:\n${output.slice(-3000)}`);
      await rpc('core.version');
      return true;
    }, 15000, 50).catch((e) => {
      if (!exited) proc.kill('SIGKILL');
      throw e;
    });
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
    // Workers are children of the main process; wait until the port is free again for restart().
    await waitFor(`port ${port} to be released`, async () => !(await httpRequest(port, 'GET', '/').then(() => true, () => false)), 5000, 50);
  };

  await launch().catch(async (e) => {
    await fs.rm(runDir, { recursive: true, force: true });
    throw e;
  });
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}`,
    tcpUrl: `tcp://127.0.0.1:${port}`,
    runDir,
    rpc,
    async bindingsOf(aor) {
      let result: any;
      try {
        result = await rpc('ul.lookup', ['location', usrlocKey(aor)]);
      } catch (e) {
        if (/AOR not found/i.test(String(e))) return [];
        throw e;
      }
      const contacts: any[] = result?.Contacts ?? [];
      return contacts.map((c) => ({
        contact: String(c.Contact?.Address ?? ''),
        received: c.Contact?.Received && c.Contact.Received !== '[not set]' ? String(c.Contact.Received) : null,
        expires: Number(c.Contact?.Expires ?? NaN),
      }));
    },
    async hasSubscribers(presentityUri) {
      const res = await httpRequest(port, 'GET', `/presence/subscribers?uri=${encodeURIComponent(presentityUri)}`);
      if (res.status !== 200) throw new Error(`/presence/subscribers: HTTP ${res.status} ${res.body}`);
      return (JSON.parse(res.body) as { hasSubscribers: boolean }).hasSubscribers;
    },
    async presentities() {
      return (await rpc('presence.presentity_list', ['full'])) ?? [];
    },
    logs: () => output,
    stop: async () => {
      await stop();
      await fs.rm(runDir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      await launch();
    },
  };
}

/**
 * httpRequest makes one HTTP/1.1 request on a fresh connection. Kamailio closes every xhttp connection after its
 * reply (set_reply_close), so a pooled keep-alive connection (fetch's default) can fail with "other side closed".
 */
function httpRequest(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`HTTP ${method} ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}
