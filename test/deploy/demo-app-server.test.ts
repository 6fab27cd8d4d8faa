/**
 * scripts/demo-app-server.mjs, in-process (startDemoAppServer) and as the command docker-compose.yml runs: it
 * names itself and the user, holds answers for delay_ms, streams N server-sent events over N seconds then ends,
 * answers /healthz, logs one line per request and exits 0 on SIGTERM.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './compose-file.ts';

const SCRIPT = path.join(ROOT, 'scripts/demo-app-server.mjs');

/** DemoAppServer is what startDemoAppServer resolves with (the script is plain JavaScript). */
interface DemoAppServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly requests: number;
  close(): Promise<void>;
}
interface DemoModule {
  startDemoAppServer(o: { name: string; port?: number; host?: string; log?: (line: string) => void }): Promise<DemoAppServer>;
  MAX_DELAY_MS: number;
}

// Imported by URL at run time: the script has no type declarations, DemoModule states what the tests rely on.
const scriptUrl = pathToFileURL(SCRIPT).href;
const demo = (await import(scriptUrl)) as DemoModule;

/** started starts a server on a free port with its log kept in lines; the test's teardown closes it. */
async function started(t: { teardown(fn: () => Promise<void>): void }, name: string) {
  const lines: string[] = [];
  const app = await demo.startDemoAppServer({ name, port: 0, log: (l) => lines.push(l) });
  t.teardown(() => app.close());
  return { app, lines, url: (p: string) => `http://127.0.0.1:${app.port}${p}` };
}

test('answers every path with its name, the path, the x-user-id header and the time', async (t) => {
  const { app, lines, url } = await started(t, 'app-x');
  const before = Date.now();
  const res = await fetch(url('/some/where?q=1'), { headers: { 'x-user-id': 'u-123' } });
  t.is(res.status, 200);
  t.is(res.headers.get('x-app-server'), 'app-x');
  t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as Record<string, unknown>;
  t.deepEqual(Object.keys(body).sort(), ['at', 'path', 'pin', 'server', 'user']);
  t.like(body, { server: 'app-x', path: '/some/where', user: 'u-123' });
  t.true(Date.parse(String(body.at)) >= before - 5, 'at is an ISO time of the answer');
  const anon = (await (await fetch(url('/'))).json()) as Record<string, unknown>;
  t.is(anon.user, null, 'no x-user-id header: user is null');
  t.is(app.requests, 2);
  t.is(lines.length, 2, 'one log line per request');
  t.regex(lines[0]!, /app-x GET \/some\/where\?q=1 user=u-123 200 \d+ms$/);
});

test('delay_ms holds the answer back; a malformed one is a 400; larger values are capped', async (t) => {
  const { url } = await started(t, 'app-d');
  const t0 = Date.now();
  const res = await fetch(url('/slow?delay_ms=400'));
  const took = Date.now() - t0;
  t.is(res.status, 200);
  t.like(await res.json(), { server: 'app-d', path: '/slow' });
  t.true(took >= 390 && took < 3000, `answered after ${took} ms`);
  for (const bad of ['abc', '-5', '1.5']) t.is((await fetch(url(`/x?delay_ms=${bad}`))).status, 400, `delay_ms=${bad}`);
  t.is(demo.MAX_DELAY_MS, 60000);
});

test('/stream?seconds=N sends N server-sent events about a second apart, then ends', async (t) => {
  const { url, lines } = await started(t, 'app-s');
  const t0 = Date.now();
  const res = await fetch(url('/stream?seconds=2'), { headers: { 'x-user-id': 'u-s' } });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const arrivals: number[] = [];
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk, { stream: true });
    const n = (text.match(/^event: tick$/gm) ?? []).length;
    while (arrivals.length < n) arrivals.push(Date.now() - t0);
  }
  const data = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
  t.deepEqual(data.map((d) => d.event), [1, 2], text);
  t.like(data[1], { server: 'app-s', path: '/stream', user: 'u-s', of: 2 });
  t.true(arrivals[0]! >= 900 && arrivals[1]! >= 1900 && arrivals[1]! < 5000, `events at ${arrivals.join(', ')} ms`);
  t.is(lines.length, 1, 'the stream is logged once, when it ends');
  for (const bad of ['0', 'x']) t.is((await fetch(url(`/stream?seconds=${bad}`))).status, 400, `seconds=${bad}`);
});

test('/healthz answers ok with the name; close() ends a pending answer and stops listening', async (t) => {
  const { app, url } = await started(t, 'app-h');
  const health = await fetch(url('/healthz'));
  t.is(health.status, 200);
  t.deepEqual(await health.json(), { status: 'ok', server: 'app-h' });
  const pending = fetch(url('/x?delay_ms=30000')).then(
    () => 'answered',
    () => 'failed',
  );
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await app.close();
  t.is(await pending, 'failed', 'the held request is dropped, not answered');
  t.true(Date.now() - t0 < 2000, 'close() does not wait for delay_ms');
  await t.throwsAsync(fetch(url('/healthz')), undefined, 'nothing listens after close()');
});

test('the command line serves, logs one line per request and exits 0 on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [SCRIPT, '--name', 'app-cli', '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line: ${out}`)), 10000);
    child.stdout.on('data', () => {
      const m = /app-cli listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  t.like(await (await fetch(`http://127.0.0.1:${port}/hi`, { headers: { 'x-user-id': 'cli-user' } })).json(), { server: 'app-cli', user: 'cli-user' });
  await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  t.is(await exited, 0, out);
  t.regex(out, /app-cli GET \/hi user=cli-user 200 \d+ms/);
  t.regex(out, /SIGTERM: closing after 1 requests/);

  const bad = spawn(process.execPath, [SCRIPT, '--port', 'nope'], { stdio: 'ignore' });
  t.is(await new Promise((resolve) => bad.on('exit', resolve)), 2, 'bad arguments exit 2');
});
