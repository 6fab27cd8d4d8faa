/**
 * One Envoy process for a benchmark (the binary of the project's virtualenv, as the test harness finds it), with
 * its pid for CPU accounting and the admin endpoints benchmarks read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { FLOW_LOG_FLUSH_MS } from '../../src/dataplane/flow-log.ts';
import fs from 'node:fs';
import path from 'node:path';
import { envoyBinary } from '../../test/harness/envoy.ts';
import { waitFor } from '../../test/harness/ports.ts';

/** BenchEnvoy is a running Envoy. */
export interface BenchEnvoy {
  readonly name: string;
  readonly pid: number;
  readonly adminUrl: string;
  /** counters returns /stats?format=json&filter=… as name → value (numbers only). */
  counters(filter: string): Promise<Record<string, number>>;
  /** waitReady waits until /ready answers LIVE (for the Envoy under test: its first xDS snapshot arrived). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** stop sends SIGTERM and waits for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** launchEnvoy runs Envoy on bootstrap file, logging at `warn` to dir/<name>.log, and resolves once admin answers. */
export async function launchEnvoy(o: { name: string; file: string; adminPort: number; dir: string; concurrency: number }): Promise<BenchEnvoy> {
  const logFile = path.join(o.dir, `${o.name}.log`);
  const out = fs.openSync(path.join(o.dir, `${o.name}.stdout.log`), 'a');
  const child: ChildProcess = spawn(
    envoyBinary(),
    ['-c', o.file, '--use-dynamic-base-id', '-l', 'warn', '--log-path', logFile, '--concurrency', String(o.concurrency), '--drain-time-s', '1', '--file-flush-interval-msec', String(FLOW_LOG_FLUSH_MS)],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  let exited: string | null = null;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, sig) => ((exited = String(code ?? sig)), resolve())));
  const adminUrl = `http://127.0.0.1:${o.adminPort}`;
  const get = (p: string) => fetch(`${adminUrl}${p}`, { signal: AbortSignal.timeout(3000) });
  const stop = async () => {
    if (exited !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(t);
  };
  const tail = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : '');
  try {
    await waitFor(`Envoy ${o.name} admin`, async () => {
      if (exited !== null) throw new Error(`Envoy ${o.name} exited (${exited}): ${tail()}`);
      return (await get('/server_info')).ok;
    }, 15000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    name: o.name,
    pid: child.pid!,
    adminUrl,
    async counters(filter) {
      const body = (await (await get(`/stats?format=json&filter=${encodeURIComponent(filter)}`)).json()) as { stats: { name?: string; value?: unknown }[] };
      return Object.fromEntries(body.stats.filter((s) => typeof s.name === 'string' && typeof s.value === 'number').map((s) => [s.name!, s.value as number]));
    },
    async waitReady(timeoutMs = 20000) {
      await waitFor(`Envoy ${o.name} /ready LIVE`, async () => {
        if (exited !== null) throw new Error(`Envoy ${o.name} exited (${exited}): ${tail()}`);
        const r = await get('/ready');
        return r.status === 200 && (await r.text()).trim() === 'LIVE';
      }, timeoutMs);
    },
    stop,
  };
}
