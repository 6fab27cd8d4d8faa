/**
 * Runs presencelb as a user would: the `presencelb serve` command in a child process, with a YAML config written
 * to a temp dir. Its JSON log lines are parsed and kept, so tests can wait for and assert the claim's steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitFor } from './ports.ts';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** LogLine is one parsed JSON log line of presencelb. */
export interface LogLine {
  level: number;
  msg?: string;
  event?: string;
  user?: string;
  ok?: boolean;
  [k: string]: unknown;
}

/** Presencelb is a running presencelb process. */
export interface Presencelb {
  readonly dir: string;
  readonly configFile: string;
  readonly dbFile: string;
  readonly lines: LogLine[];
  /** adminPort and metricsPort are the bound ports of the admin API and /metrics, from the ready line (0 before). */
  readonly adminPort: number;
  readonly metricsPort: number;
  /** events returns the claim-step events logged for a user, in order ("register", "notify", …). */
  events(user: string): string[];
  waitForEvent(user: string, step: string, timeoutMs?: number): Promise<LogLine>;
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /**
   * restart stops the process with signal (default SIGTERM; SIGKILL to simulate a crash) and starts presencelb again
   * with the same config file, hence the same ports and database; it resolves with the new process once it is ready.
   */
  restart(signal?: NodeJS.Signals): Promise<Presencelb>;
  /** exited resolves with the exit code when the process ends by itself. */
  readonly exited: Promise<number | null>;
}

/**
 * startPresencelb writes `config` as YAML and starts `presencelb serve`; it resolves once every server listens. The
 * admin API and /metrics listen on ports the kernel picks unless config names them (see adminPort, metricsPort).
 */
export async function startPresencelb(config: Record<string, unknown>, opts: { waitReady?: boolean; dir?: string } = {}): Promise<Presencelb> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'plb-'));
  const dbFile = path.join(dir, 'presencelb.db');
  const full = { store: { client: 'sqlite3', filename: dbFile }, log: { level: 'debug' }, admin: { listen: '127.0.0.1:0' }, metrics: { listen: '127.0.0.1:0' }, ...config };
  const configFile = path.join(dir, 'presencelb.yaml');
  fs.writeFileSync(configFile, stringify(full));
  return launch(dir, configFile, dbFile, opts.waitReady !== false, 1);
}

/** launch runs `presencelb serve -c configFile`; run numbers the runs in dir (their logs: presencelb.log, presencelb-2.log…). */
async function launch(dir: string, configFile: string, dbFile: string, waitReady: boolean, run: number): Promise<Presencelb> {
  const child: ChildProcess = spawn(process.execPath, [...NODE_FLAGS, path.join(ROOT, 'bin/presencelb.mjs'), 'serve', '-c', configFile], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      raw.push(line);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        /* not JSON: kept in raw only */
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => raw.push(`[stderr] ${d.toString()}`));
  // A test worker that ends without stopping presencelb (a failed hook, ava's timeout) must not leave it running.
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  fs.writeFileSync(path.join(dir, 'README'), 'presencelb test run; stdout in presencelb.log when the test ends\n');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    process.removeListener('exit', orphanGuard);
    fs.writeFileSync(path.join(dir, run === 1 ? 'presencelb.log' : `presencelb-${run}.log`), raw.join('\n'));
    resolve(code);
  }));
  const ready = () => lines.find((l) => l.msg === 'presencelb ready');
  const p: Presencelb = {
    get adminPort() {
      return Number(ready()?.adminPort ?? 0);
    },
    get metricsPort() {
      return Number(ready()?.metricsPort ?? 0);
    },
    dir,
    configFile,
    dbFile,
    lines,
    exited,
    events: (user) => lines.filter((l) => l.user === user && typeof l.event === 'string' && l.event.startsWith('claim.')).map((l) => `${(l.event as string).slice(6)}${l.ok === false ? '!' : ''}`),
    waitForEvent: (user, step, timeoutMs = 10000) =>
      waitFor(`presencelb event claim.${step} for ${user}`, () => lines.find((l) => l.user === user && l.event === `claim.${step}`), timeoutMs),
    waitForLog: (pred, what, timeoutMs = 10000) => waitFor(what, () => lines.find(pred), timeoutMs),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async restart(signal = 'SIGTERM') {
      await p.stop(signal);
      return launch(dir, configFile, dbFile, true, run + 1);
    },
  };
  if (waitReady) {
    await Promise.race([
      // Generous: on a busy 2-core machine start-up (tsx, Envoy's proto image) alone has taken over 20 s.
      waitFor('presencelb to start listening', () => lines.find((l) => l.msg === 'presencelb ready'), 60000),
      exited.then((code) => {
        throw new Error(`presencelb exited with ${code} before it was ready:\n${raw.join('\n').slice(-3000)}`);
      }),
    ]);
  }
  return p;
}
