#!/usr/bin/env node
/**
 * A demo application server for presencelb: the upstream Envoy balances users over (one process per server, e.g.
 * app-a and app-b in docker-compose.yml). Dependency-free (node: modules only) so it runs from a bare node image.
 *
 *   node scripts/demo-app-server.mjs --name app-a --port 8081 [--host 127.0.0.1]
 *
 * What it answers:
 *   GET /healthz                   200 {"status":"ok","server":NAME}
 *   GET /stream?seconds=N          200 text/event-stream: one server-sent event a second for N seconds (1-3600,
 *                                  default 10), then the response ends: a long-lived flow that presencelb sees as
 *                                  "in use" until it ends. Event k (k = 1..N) is sent k seconds after the request.
 *   ANY other path[?delay_ms=N]    200 {"server","path","user","at"}; user is the x-user-id request header or null,
 *                                  at is when the answer was sent (ISO 8601). delay_ms (0-60000; larger values are
 *                                  capped at 60000) holds the answer back that long.
 *   A malformed delay_ms or seconds is answered 400 {"error": ...}.
 * Every response carries `x-app-server: NAME`. One line per request goes to stdout when its response is done
 * (or the client went away). SIGTERM and SIGINT close the server and exit 0.
 *
 * Tests run it in-process with startDemoAppServer(); the command line part only runs when this file is the
 * program node was started with.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** MAX_DELAY_MS caps ?delay_ms=. */
export const MAX_DELAY_MS = 60000;
/** MAX_STREAM_SECONDS caps /stream?seconds=. */
export const MAX_STREAM_SECONDS = 3600;
/** DEFAULT_STREAM_SECONDS is the length of /stream without ?seconds=. */
export const DEFAULT_STREAM_SECONDS = 10;
/** USER_HEADER is the request header naming the user (presencelb's default identity.header). */
export const USER_HEADER = 'x-user-id';

/**
 * intParam reads a non-negative integer query parameter: the fallback when absent, null when malformed, else the
 * value capped at max.
 */
function intParam(params, name, fallback, max) {
  const raw = params.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) return null;
  return Math.min(Number(raw), max);
}

/**
 * startDemoAppServer starts one demo application server and resolves once it listens.
 * @param {{name: string, port?: number, host?: string, log?: (line: string) => void}} options port 0 (the
 *   default) picks a free port; host defaults to 127.0.0.1; log receives one line per request (default: stdout).
 * @returns {Promise<{name: string, host: string, port: number, readonly requests: number, close(): Promise<void>}>}
 *   port is the bound port; requests counts every request received so far (health checks included); close()
 *   stops listening, cancels delayed answers and streams, drops every connection, and resolves when closed.
 */
export async function startDemoAppServer({ name, port = 0, host = '127.0.0.1', log = (line) => process.stdout.write(`${line}\n`) }) {
  if (typeof name !== 'string' || name === '') throw new TypeError('startDemoAppServer: name is required');
  let requests = 0;
  /** Timers of delayed answers and running streams, cleared by close(). */
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const cancel = (t) => {
    clearTimeout(t);
    timers.delete(t);
  };

  const server = http.createServer((req, res) => {
    requests++;
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    const user = typeof req.headers[USER_HEADER] === 'string' ? req.headers[USER_HEADER] : null;
    // pin is the server presencelb pinned the user to (its ext_proc sets x-presencelb-pin on a pinned user's requests).
    const pin = typeof req.headers['x-presencelb-pin'] === 'string' ? req.headers['x-presencelb-pin'] : null;
    res.setHeader('x-app-server', name);
    res.on('close', () => {
      const state = res.writableFinished ? String(res.statusCode) : `${res.statusCode} aborted`;
      log(`${new Date().toISOString()} ${name} ${req.method} ${req.url} user=${user ?? '-'}${pin ? ` pin=${pin}` : ''} ${state} ${Date.now() - started}ms`);
    });
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    if (url.pathname === '/healthz') return json(200, { status: 'ok', server: name });

    if (url.pathname === '/stream') {
      const seconds = intParam(url.searchParams, 'seconds', DEFAULT_STREAM_SECONDS, MAX_STREAM_SECONDS);
      if (seconds === null || seconds < 1) return json(400, { error: `seconds must be an integer 1-${MAX_STREAM_SECONDS}` });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`: ${name} streams ${seconds} events\n\n`);
      let sent = 0;
      let timer;
      const tick = () => {
        sent++;
        const data = { server: name, path: url.pathname, user, at: new Date().toISOString(), event: sent, of: seconds };
        res.write(`id: ${sent}\nevent: tick\ndata: ${JSON.stringify(data)}\n\n`);
        if (sent >= seconds) res.end();
        else timer = later(1000, tick);
      };
      timer = later(1000, tick);
      res.on('close', () => cancel(timer));
      return;
    }

    const delay = intParam(url.searchParams, 'delay_ms', 0, MAX_DELAY_MS);
    if (delay === null) return json(400, { error: `delay_ms must be an integer 0-${MAX_DELAY_MS}` });
    const answer = () => json(200, { server: name, path: url.pathname, user, pin, at: new Date().toISOString() });
    if (delay === 0) return answer();
    const timer = later(delay, answer);
    res.on('close', () => cancel(timer));
  });
  // Envoy keeps upstream connections open for reuse (its idle timeout is 1 h); a keep-alive timeout longer than
  // Envoy's usual request gap makes it rare that Envoy sends a request on a connection this server is closing.
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing;
  return {
    name,
    host,
    port: server.address().port,
    get requests() {
      return requests;
    },
    close() {
      closing ??= new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const USAGE = 'usage: node scripts/demo-app-server.mjs --name NAME --port PORT [--host HOST]';

/** main is the command line: parse flags, start the server, close it on SIGTERM/SIGINT. */
async function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { name: { type: 'string' }, port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = Number(values.port);
  if (!values.name || !/^\d+$/.test(values.port ?? '') || port > 65535) {
    process.stderr.write(`--name and --port (0-65535) are required\n${USAGE}\n`);
    process.exit(2);
  }
  const app = await startDemoAppServer({ name: values.name, port, host: values.host });
  process.stdout.write(`${new Date().toISOString()} ${app.name} listening on ${app.host}:${app.port}\n`);
  const stop = (signal) => {
    process.stdout.write(`${new Date().toISOString()} ${app.name} ${signal}: closing after ${app.requests} requests\n`);
    app.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`demo-app-server: ${e.message}\n`);
    process.exit(1);
  });
}
