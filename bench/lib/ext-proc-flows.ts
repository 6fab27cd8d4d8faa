/**
 * Long-lived flows recorded through presencelb's ext_proc path, with the benchmark playing Envoy: for each user one
 * envoy.service.ext_proc.v3.ExternalProcessor/Process stream carrying the request headers Envoy would send (the
 * identity header, an x-request-id, and the xds.cluster_name attribute naming the application server), answered
 * CONTINUE by presencelb, then left open: the flow stays open (in use) until close() ends the streams.
 *
 * Why not through Envoy: presencelb's clusters carry no circuit_breakers, so Envoy allows 1,024 concurrent requests
 * per application server by default, and its routes no timeout, so Envoy's default 15 s route timeout ends a held
 * request; thousands of flows held open through Envoy would not stay open.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../../src/protos/envoy.ts';

/** OpenFlows are the streams held open. */
export interface OpenFlows {
  readonly granted: number;
  readonly failed: number;
  readonly seconds: number;
  close(): void;
}

/** openFlows opens one held flow per user (at most `concurrency` awaiting CONTINUE at a time). */
export async function openFlows(port: number, users: readonly string[], serverOf: (i: number) => string, concurrency = 200): Promise<OpenFlows> {
  const Client = serviceClient('envoy.service.ext_proc.v3.ExternalProcessor');
  // A few channels, so that no single HTTP/2 connection carries thousands of streams.
  const clients = Array.from({ length: 4 }, (_, i) => new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.bench_channel': i }));
  const calls: grpc.ClientDuplexStream<object, object>[] = [];
  const t0 = Date.now();
  let granted = 0;
  let failed = 0;
  let next = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const client = clients[i % clients.length]!;
      const call = (client as unknown as { Process(): grpc.ClientDuplexStream<object, object> }).Process();
      calls.push(call);
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        if (ok) granted++;
        else failed++;
        resolve();
      };
      call.on('data', (m: { request_headers?: unknown }) => settle(m.request_headers !== undefined));
      call.on('error', () => settle(false));
      call.write({
        request_headers: {
          headers: {
            headers: [
              { key: ':method', raw_value: Buffer.from('GET') },
              { key: ':path', raw_value: Buffer.from('/held') },
              { key: 'x-user-id', raw_value: Buffer.from(users[i]!) },
              { key: 'x-request-id', raw_value: Buffer.from(randomUUID()) },
            ],
          },
          end_of_stream: true,
        },
        // Map fields are repeated entries in the descriptor image's types (as headers.ts reads them).
        attributes: [
          {
            key: 'envoy.filters.http.ext_proc',
            value: {
              fields: [
                { key: 'xds.cluster_name', value: { string_value: serverOf(i) } },
                { key: 'xds.route_name', value: { string_value: 'default' } },
              ],
            },
          },
        ],
      });
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < users.length) await one(next++);
    }),
  );
  return {
    granted,
    failed,
    seconds: (Date.now() - t0) / 1000,
    close() {
      for (const c of calls) c.end();
      for (const c of clients) c.close();
    },
  };
}
