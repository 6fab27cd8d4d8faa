/**
 * MetricsServer serves the Prometheus exposition over HTTP: GET (or HEAD) /metrics answers 200 with the text format;
 * any other path 404, any other method 405. It holds no state of its own and never blocks the rest of presencelb.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/ports.ts';
import type { PlbMetrics } from './metrics.ts';

/** MetricsServer serves one PlbMetrics; start, then stop. */
export class MetricsServer {
  private readonly server: http.Server;

  constructor(private readonly metrics: PlbMetrics, private readonly log: Logger) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  /** start listens on listen (host:port; port 0 picks one) and resolves with the bound port. */
  start(listen: string): Promise<number> {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i);
    const port = Number(listen.slice(i + 1));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const bound = (this.server.address() as AddressInfo).port;
        this.log.info({ listen, port: bound }, 'metrics listening');
        resolve(bound);
      });
    });
  }

  /** stop stops accepting connections, closes idle ones and resolves when the server is closed. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    try {
      const body = await this.metrics.exposition();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'metrics exposition failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
    }
  }
}
