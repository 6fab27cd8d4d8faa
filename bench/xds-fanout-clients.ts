/**
 * The client side of bench/xds-fanout.ts, run in its own process: N ADS streams, each on its own connection and
 * with its own node id, as N Envoys would. Each stream subscribes to the route configuration, ACKs every response
 * at once, and records when each version arrived. Talks to its parent over IPC:
 *   parent → {start: {port, streams, routeConfigName}}, {report: version}, {stop}
 *   child  → {ready}, {report: {version, arrivals: number[]}} (epoch ms with sub-ms precision)
 */
import { credentials } from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { serviceClient } from '../src/protos/envoy.ts';

const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const now = () => performance.timeOrigin + performance.now();
const arrivals = new Map<string, number[]>();
const calls: Array<{ end(): void }> = [];
const clients: Array<{ close(): void }> = [];

function open(port: number, i: number, routeConfigName: string, onFirst: () => void): void {
  const Client = serviceClient('envoy.service.discovery.v3.AggregatedDiscoveryService');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as any;
  clients.push(client);
  const call = client.StreamAggregatedResources();
  calls.push(call);
  let first = true;
  call.on('data', (r: { version_info: string; nonce: string; type_url: string }) => {
    const t = now();
    const list = arrivals.get(r.version_info) ?? [];
    list.push(t);
    arrivals.set(r.version_info, list);
    call.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: [routeConfigName] });
    if (first) {
      first = false;
      onFirst();
    }
  });
  call.on('error', () => undefined);
  call.write({ node: { id: `bench-envoy-${i}`, cluster: 'bench' }, type_url: RDS, resource_names: [routeConfigName] });
}

process.on('message', (m: any) => {
  if (m.start) {
    let ready = 0;
    for (let i = 0; i < m.start.streams; i++) open(m.start.port, i, m.start.routeConfigName, () => {
      if (++ready === m.start.streams) process.send!({ ready: true });
    });
  } else if (m.report) {
    process.send!({ report: { version: m.report, arrivals: arrivals.get(m.report) ?? [] } });
  } else if (m.stop) {
    for (const c of calls) c.end();
    for (const c of clients) c.close();
    setTimeout(() => process.exit(0), 100);
  }
});
