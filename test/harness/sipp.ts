/**
 * SIPp (Debian's sip-tester, /usr/bin/sipp) as a scripted presence server for integration tests: a server-side
 * scenario (test/sipp/*.xml, `-sf`) over TCP on a free port of 127.0.0.1, playing the parts of a presence server
 * Kamailio will not play on demand (412, 423, digest challenges, every termination reason, stray NOTIFYs,
 * silence, a dropped connection). Every message SIPp sends or receives is traced (`-trace_msg`) and parsed here
 * for assertions; unexpected messages land in its error file (`-trace_err`).
 *
 * Scenario parameters are passed with `-key name value` and read as [name] in the XML. Calls are SIPp's unit:
 * each new Call-ID starts the scenario again, so scenarios branch on the request's content or on [call_number].
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './ports.ts';

/** SIPP_SCENARIOS is the folder of the scenario files. */
export const SIPP_SCENARIOS = fileURLToPath(new URL('../sipp/', import.meta.url));

/** live holds what must not outlive the test process (a crash, a failed hook): SIPp processes and trace folders. */
const live = { procs: new Set<ChildProcess>(), dirs: new Set<string>() };
process.once('exit', () => {
  for (const p of live.procs) p.kill('SIGKILL');
  for (const d of live.dirs) rmSync(d, { recursive: true, force: true });
});

/** SippMessage is one traced message, as SIPp sent or received it. */
export interface SippMessage {
  readonly direction: 'sent' | 'received';
  /** run counts restarts: 0 for the first SIPp process, 1 after the first restart(), ... */
  readonly run: number;
  readonly text: string;
  /** method is the request method, null for a response. */
  readonly method: string | null;
  /** status is the response status code, null for a request. */
  readonly status: number | null;
  /** header returns the first value of a header (case-insensitive, compact forms not expanded), or undefined. */
  header(name: string): string | undefined;
  readonly body: string;
}

/** SippOptions choose the scenario and its parameters. */
export interface SippOptions {
  /** scenario is a file name in test/sipp/ or an absolute path. */
  readonly scenario: string;
  /** keys are the scenario's [name] parameters (-key name value). */
  readonly keys?: Readonly<Record<string, string | number>>;
  readonly port?: number;
  /** timeoutSec ends SIPp by itself after this long, in case a test forgets to (default 300). */
  readonly timeoutSec?: number;
}

/** SippServer is a running SIPp. */
export interface SippServer {
  readonly port: number;
  /** url is the endpoint for SipPresenceClient: tcp://127.0.0.1:PORT. */
  readonly url: string;
  /** messages returns every message traced so far, across restarts, in order. */
  messages(): SippMessage[];
  /** received returns the requests SIPp received, optionally of one method. */
  received(method?: string): SippMessage[];
  /** waitFor resolves with the first traced message satisfying pred. */
  waitFor(what: string, pred: (m: SippMessage) => boolean, timeoutMs?: number): Promise<SippMessage>;
  /** errors returns what SIPp wrote to its error files (unexpected messages, failed actions), across restarts. */
  errors(): string;
  /** stop kills SIPp (its TCP connections close at once); the traces stay readable. */
  stop(): Promise<void>;
  /** restart starts SIPp again, same scenario, keys and port. */
  restart(): Promise<void>;
  /** close stops SIPp and deletes its traces. */
  close(): Promise<void>;
}

/** startSipp starts SIPp on a free port and resolves once it accepts TCP connections (rejects after 10 s). */
export async function startSipp(o: SippOptions): Promise<SippServer> {
  const port = o.port ?? (await freePort());
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plb-sipp-'));
  const scenario = path.isAbsolute(o.scenario) ? o.scenario : path.join(SIPP_SCENARIOS, o.scenario);
  let run = -1;
  let child: ChildProcess | null = null;
  let output = '';
  const file = (kind: string, n: number) => path.join(dir, `${kind}-${n}.log`);

  const launch = async (): Promise<void> => {
    run += 1;
    const args = [
      '-sf', scenario,
      '-t', 't1',
      '-i', '127.0.0.1',
      '-p', String(port),
      '-nostdin',
      '-default_behaviors', 'abortunexp',
      '-timeout', `${o.timeoutSec ?? 300}s`,
      '-trace_msg', '-message_file', file('messages', run),
      '-trace_err', '-error_file', file('errors', run),
    ];
    for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, String(v));
    const proc = spawn('/usr/bin/sipp', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
    child = proc;
    live.procs.add(proc);
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const n = run;
    let exited = false;
    const early = new Promise<never>((_, reject) =>
      proc.once('exit', () => {
        exited = true;
        live.procs.delete(proc);
        reject(new Error(`sipp exited early:\n${output.slice(-2000)}\n${readIf(file('errors', n)).slice(-2000)}`));
      }),
    );
    early.catch(() => undefined);
    await Promise.race([early, waitFor(`SIPp to listen on port ${port}`, () => canConnect(port), 10000, 50)]).catch((e) => {
      if (!exited) proc.kill('SIGKILL');
      throw e;
    });
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await gone;
  };

  const messages = (): SippMessage[] => {
    const out: SippMessage[] = [];
    for (let n = 0; n <= run; n++) out.push(...parseTrace(readIf(file('messages', n)), n));
    return out;
  };

  await launch().catch(async (e) => {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  });
  live.dirs.add(dir);
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    messages,
    received: (method) => messages().filter((m) => m.direction === 'received' && m.method !== null && (!method || m.method === method)),
    waitFor: (what, pred, timeoutMs = 5000) => waitFor(what, () => messages().find(pred), timeoutMs, 20),
    errors: () => Array.from({ length: run + 1 }, (_, n) => readIf(file('errors', n))).join(''),
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    close: async () => {
      await stop();
      live.dirs.delete(dir);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** canConnect says whether something accepts TCP connections on 127.0.0.1:port (the probe sends nothing). */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function readIf(f: string): string {
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

const SEPARATOR = /^-{47}(?: .*)?$/m;
const ENTRY = /^TCP message (received|sent) [[(]\d+\]? ?bytes\)? ?:\n\n/;

/** parseTrace reads a -trace_msg file: entries separated by a dashed line, each a direction line and a message. */
export function parseTrace(text: string, run: number): SippMessage[] {
  const out: SippMessage[] = [];
  for (const chunk of text.split(SEPARATOR)) {
    const c = chunk.replace(/^\n/, '');
    const m = ENTRY.exec(c);
    if (!m) continue;
    const raw = c.slice(m[0].length).replace(/\n+$/, '\n').replace(/\r?\n/g, '\r\n');
    const end = raw.indexOf('\r\n\r\n');
    const head = end < 0 ? raw : raw.slice(0, end);
    const body = end < 0 ? '' : raw.slice(end + 4).replace(/\r\n$/, '');
    const lines = head.split('\r\n');
    const start = lines[0] ?? '';
    const status = /^SIP\/2\.0 (\d{3})/.exec(start);
    out.push({
      direction: m[1] as 'sent' | 'received',
      run,
      text: raw,
      method: status ? null : (start.split(' ')[0] ?? null),
      status: status ? Number(status[1]) : null,
      header(name) {
        const want = name.toLowerCase();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0 && l.slice(0, i).trim().toLowerCase() === want) return l.slice(i + 1).trim();
        }
        return undefined;
      },
      body,
    });
  }
  return out;
}
