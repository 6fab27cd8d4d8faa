/**
 * xDS fan-out (issue 4): N concurrent ADS streams, simulated by clients in a separate process
 * (bench/xds-fanout-clients.ts), receive one route update, several rounds. Prints, per round and overall, the time
 * from publishing the update to each stream's ACK (p50/p99) and until all streams ACKed, and presencelb's memory
 * per connected stream (heap and RSS after GC). Targets: p99 ≤ 500 ms until all have ACKed; ≤ 100 KB per stream.
 *   npm run bench -- xds-fanout [--streams 1000] [--rounds 10]
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../src/core/ports.ts';
import type { UserId } from '../src/core/user-id.ts';
import { AdsServer } from '../src/xds/ads-server.ts';
import { XdsRoutePublisher } from '../src/xds/route-publisher.ts';
import { percentile } from './lib/stats.ts';

const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== 'xds-fanout'), options: { streams: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '10' } } });
const STREAMS = Number(values.streams);
const ROUNDS = Number(values.rounds);
v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;
const now = () => performance.timeOrigin + performance.now();
const mem = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
};

const log = pino({ level: 'warn' }) as unknown as Logger;
const acks = new Map<string, number>();
let lastAckAt = 0;
const ads = new AdsServer({
  logger: log,
  onEvent: (e) => {
    if (e.type === 'ack' && e.kind === 'RDS') {
      acks.set(e.version, (acks.get(e.version) ?? 0) + 1);
      lastAckAt = now();
    }
  },
});
const port = await ads.start('127.0.0.1:0');
const base = {
  appServers: [{ name: 'app-a', host: '127.0.0.1', port: 8081 }, { name: 'app-b', host: '127.0.0.1', port: 8082 }],
  routeConfigName: 'presencelb-routes',
  virtualHostDomains: ['*'],
  identityHeader: 'x-user-id',
};
const routes = new XdsRoutePublisher({ sink: ads, base });
routes.publishCurrent();

const before = mem();
const child = fork(fileURLToPath(new URL('./xds-fanout-clients.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
const fromChild = <T>(key: string) => new Promise<T>((resolve) => {
  const h = (m: any) => {
    if (key in m) {
      child.off('message', h);
      resolve(m[key] as T);
    }
  };
  child.on('message', h);
});
const t0 = now();
child.send({ start: { port, streams: STREAMS, routeConfigName: base.routeConfigName } });
await fromChild('ready');
console.log(`${STREAMS} ADS streams connected and configured in ${(now() - t0).toFixed(0)} ms`);
await new Promise((r) => setTimeout(r, 500));
const connected = mem();
const perStreamHeap = (connected.heap - before.heap) / STREAMS;
const perStreamRss = (connected.rss - before.rss) / STREAMS;

const allAck: number[] = [];
const perStream: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const user = `00000000-0000-4000-8000-${String(round).padStart(12, '0')}` as UserId;
  const start = now();
  const { version } = await routes.pin({ user, appServer: 'app-b', createdAt: Date.now(), expiresAt: Date.now() + 60000 });
  while ((acks.get(version) ?? 0) < STREAMS && now() - start < 10000) await new Promise((r) => setTimeout(r, 1));
  const acked = acks.get(version) ?? 0;
  const done = lastAckAt - start;
  child.send({ report: version });
  const report = await fromChild<{ version: string; arrivals: number[] }>('report');
  const lat = report.arrivals.map((t) => t - start);
  perStream.push(...lat);
  allAck.push(done);
  console.log(`round ${round + 1}: ${acked}/${STREAMS} ACKed, all within ${done.toFixed(1)} ms; arrival p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`);
}

console.log('');
console.log(`streams                                 ${STREAMS}`);
console.log(`until all ACKed, p50 / p99 over rounds  ${percentile(allAck, 50).toFixed(1)} ms / ${percentile(allAck, 99).toFixed(1)} ms   (target p99 ≤ 500 ms: ${percentile(allAck, 99) <= 500 ? 'met' : 'MISSED'})`);
console.log(`per-stream arrival p50 / p99            ${percentile(perStream, 50).toFixed(1)} ms / ${percentile(perStream, 99).toFixed(1)} ms`);
console.log(`memory per stream, heap / RSS           ${(perStreamHeap / 1024).toFixed(1)} KB / ${(perStreamRss / 1024).toFixed(1)} KB   (target ≤ 100 KB: ${Math.max(perStreamHeap, perStreamRss) <= 100 * 1024 ? 'met' : 'MISSED'})`);
child.send({ stop: true });
await ads.stop();
process.exit(0);
