/**
 * Tiny HTTP application servers for integration tests. Each answers every request with JSON naming itself and the
 * user (`{server, user, path}`) and counts requests per user. `GET /stream?chunks=N&intervalMs=M` answers with N
 * chunks M ms apart, to hold an HTTP stream open.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppServer } from '../../src/core/ports.ts';

/** AppServerHandle is one running test application server. */
export interface AppServerHandle extends AppServer {
  readonly url: string;
  /** hits is the number of requests served. */
  hits(): number;
  /** hitsBy returns the number of requests served for one x-user-id value. */
  hitsBy(user: string): number;
  close(): Promise<void>;
}

/** startAppServer starts one server named name on 127.0.0.1 (port 0: any free port). */
export async function startAppServer(name: string, port = 0, identityHeader = 'x-user-id'): Promise<AppServerHandle> {
  let hits = 0;
  const byUser = new Map<string, number>();
  const server = http.createServer((req, res) => {
    hits++;
    const user = String(req.headers[identityHeader] ?? '');
    byUser.set(user, (byUser.get(user) ?? 0) + 1);
    const url = new URL(req.url ?? '/', 'http://x');
    const pin = req.headers['x-presencelb-pin'];
    const body = JSON.stringify({ server: name, user: user || null, path: url.pathname, pin: typeof pin === 'string' ? pin : null });
    if (url.pathname === '/stream') {
      const chunks = Number(url.searchParams.get('chunks') ?? 3);
      const intervalMs = Number(url.searchParams.get('intervalMs') ?? 200);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app-server': name });
      let sent = 0;
      const tick = () => {
        if (sent++ >= chunks) return res.end(`${body}\n`);
        res.write(`chunk ${sent}\n`);
        setTimeout(tick, intervalMs);
      };
      tick();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-app-server': name });
    res.end(body);
  });
  // Longer than any test: Envoy keeps idle upstream connections for an hour, and one the server closes while Envoy
  // reuses it fails the request with 503 UC, more often on a busy machine. close() ends every connection anyway.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    name,
    host: '127.0.0.1',
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    hits: () => hits,
    hitsBy: (user) => byUser.get(user) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** startAppServers starts one server per name. */
export async function startAppServers(names: readonly string[]): Promise<AppServerHandle[]> {
  return Promise.all(names.map((n) => startAppServer(n)));
}
