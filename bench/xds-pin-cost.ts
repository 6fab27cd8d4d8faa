/**
 * Cost of one route update (pin) as the number of pinned users grows (issue 4). For each size N (default 1, 100,
 * 10,000 pinned users) and each ADS variant (state of the world, delta), a real Envoy holds the N pins; then, round
 * after round, one pinned user is moved to the other application server. Printed per N:
 *   build+encode   Snapshot.build for N pins: input checks, every resource validated, encoded and digested (ms)
 *   RDS bytes      the encoded RouteConfiguration (the one resource a pin changes)
 *   sent / pin     bytes of resources presencelb wrote to Envoy's stream for one pin, and in how many responses
 *   ACK            from the start of XdsRoutePublisher.pin (build, publish, write) to Envoy's ACK of the new routes (ms)
 *   Envoy          the part of ACK from handing the response to grpc-js to the ACK: transfer, Envoy's decoding,
 *                  validation and applying of the routes (ms)
 * and, for config xds.pins: header (the default), the same change in the pin table ext_proc reads: its time, and
 * the xDS bytes it sends (none: the steering routes do not change; the snapshot's version is checked to stay).
 *   npx tsx bench/xds-pin-cost.ts [--users 1,100,10000] [--rounds 10]     (or: npm run bench -- xds)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Logger, PinRecord } from '../src/core/ports.ts';
import type { UserId } from '../src/core/user-id.ts';
import { AdsServer } from '../src/xds/ads-server.ts';
import type { AdsEvent, XdsProtocol } from '../src/xds/ads-types.ts';
import { XdsRoutePublisher } from '../src/xds/route-publisher.ts';
import { Snapshot } from '../src/xds/snapshot.ts';
import type { SnapshotInput } from '../src/xds/snapshot-input.ts';
import { startEnvoy, TRUSTED_HEADER_BOOTSTRAP } from '../test/harness/envoy.ts';
import { deltaVariant } from '../test/harness/envoy-delta.ts';
import { fmt, summarize, table } from './lib/stats.ts';
import { PinTable } from '../src/dataplane/pin-table.ts';

const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== 'xds'), options: { users: { type: 'string', default: '1,100,10000' }, rounds: { type: 'string', default: '10' } } });
const SIZES = values.users.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const now = () => performance.now();
const log = pino({ level: 'warn' }) as unknown as Logger;
const base: Omit<SnapshotInput, 'pins'> = {
  appServers: [
    { name: 'app-a', host: '127.0.0.1', port: 8081 },
    { name: 'app-b', host: '127.0.0.1', port: 8082 },
  ],
  routeConfigName: 'presencelb-routes',
  virtualHostDomains: ['*'],
  identityHeader: 'x-user-id',
};
const pinsOf = (n: number): PinRecord[] => Array.from({ length: n }, (_, i) => ({ user: randomUUID() as UserId, appServer: i % 2 ? 'app-b' : 'app-a', createdAt: Date.now(), expiresAt: Date.now() + 3600000 }));
const moved = (p: PinRecord): PinRecord => ({ ...p, appServer: p.appServer === 'app-a' ? 'app-b' : 'app-a' });

/** buildCost times Snapshot.build for n pins (after one warm-up build), in ms, and returns the RDS size. */
function buildCost(pins: PinRecord[]): { ms: number[]; rdsBytes: number } {
  const ms: number[] = [];
  let rdsBytes = 0;
  for (let i = 0; i <= ROUNDS; i++) {
    const t0 = now();
    const r = Snapshot.build({ ...base, pins: i % 2 ? pins.slice(0, -1).concat(moved(pins.at(-1)!)) : pins });
    const t = now() - t0;
    if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
    rdsBytes = r.value.slice('RDS').resources.get(base.routeConfigName)!.value.length;
    if (i > 0) ms.push(t);
  }
  return { ms, rdsBytes };
}

/** ackCost measures, with a real Envoy on protocol, the time from pin() to Envoy's ACK of the new routes. */
async function ackCost(protocol: XdsProtocol, pins: PinRecord[]): Promise<{ ms: number[]; envoyMs: number[]; bytes: number[]; responses: number[]; initialMs: number }> {
  let onEvent: (e: AdsEvent) => void = () => {};
  const ads = new AdsServer({ logger: log, onEvent: (e) => onEvent(e) });
  const port = await ads.start('127.0.0.1:0');
  const pub = new XdsRoutePublisher({ sink: ads, base, initialPins: pins });
  const t0 = now();
  pub.publishCurrent();
  const bootstrap = protocol === 'delta' ? deltaVariant(TRUSTED_HEADER_BOOTSTRAP) : TRUSTED_HEADER_BOOTSTRAP;
  const envoy = await startEnvoy({ xdsPort: port, nodeId: `bench-${protocol}`, bootstrap, logLevel: 'warn' });
  try {
    await envoy.waitReady(60000);
    const initialMs = now() - t0;
    const ms: number[] = [];
    const envoyMs: number[] = [];
    const bytes: number[] = [];
    const responses: number[] = [];
    let current = [...pins];
    for (let round = 0; round < ROUNDS; round++) {
      const i = round % current.length;
      current = current.map((p, j) => (j === i ? moved(p) : p));
      let sent = 0;
      let count = 0;
      let sentAt = 0;
      let version = '';
      const acked = new Promise<number>((resolve) => {
        onEvent = (e) => {
          if (e.type === 'send') {
            sent += e.bytes;
            count++;
            if (e.kind === 'RDS') sentAt = now();
          } else if (e.type === 'ack' && e.kind === 'RDS' && e.version === version) resolve(now());
        };
      });
      const start = now();
      version = (await pub.pin(current[i]!)).version;
      const done = await Promise.race([acked, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`no ACK of ${version} within 30 s`)), 30000))]);
      ms.push(done - start);
      envoyMs.push(done - sentAt);
      bytes.push(sent);
      responses.push(count);
      const nacks = ads.envoys()[0]?.types.find((x) => x.kind === 'RDS')?.lastNack;
      if (nacks) throw new Error(`Envoy refused the routes: ${nacks.message}`);
    }
    return { ms, envoyMs, bytes, responses, initialMs };
  } finally {
    onEvent = () => {};
    await envoy.stop();
    await ads.stop();
  }
}

const rows: string[][] = [['pinned users', 'build+encode ms p50 (p90)', 'RDS bytes', 'sent / pin (responses)', 'SotW ACK ms p50 (p90)', 'of which Envoy', 'delta ACK ms p50 (p90)', 'of which Envoy', 'first config SotW / delta ms']];
for (const n of SIZES) {
  const pins = pinsOf(n);
  const build = buildCost(pins);
  const b = summarize(build.ms);
  const sotw = await ackCost('sotw', pins);
  const delta = await ackCost('delta', pins);
  const s = summarize(sotw.ms);
  const d = summarize(delta.ms);
  const perPin = (r: { bytes: number[]; responses: number[] }) => `${summarize(r.bytes).p50} (${summarize(r.responses).p50})`;
  rows.push([
    n.toLocaleString('en'),
    `${fmt(b.p50, 2)} (${fmt(b.p90, 2)})`,
    build.rdsBytes.toLocaleString('en'),
    `SotW ${perPin(sotw)}, delta ${perPin(delta)}`,
    `${fmt(s.p50)} (${fmt(s.p90)})`,
    fmt(summarize(sotw.envoyMs).p50),
    `${fmt(d.p50)} (${fmt(d.p90)})`,
    fmt(summarize(delta.envoyMs).p50),
    `${fmt(sotw.initialMs, 0)} / ${fmt(delta.initialMs, 0)}`,
  ]);
  process.stderr.write(`done: ${n} pinned users\n`);
}
/** headerCost times one pin change in the pin table holding n pins (xds.pins: header), in µs. */
function headerCost(pins: PinRecord[]): { us: number[]; snapshotChanged: boolean } {
  const table = new PinTable({ servers: base.appServers.map((s) => s.name), initialPins: pins });
  const steering = (): string => {
    const r = Snapshot.build({ ...base, pins: [], pinHeader: 'x-presencelb-pin' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value.version;
  };
  const before = steering();
  const us: number[] = [];
  const rounds = Math.max(ROUNDS, 1000);
  for (let round = 0; round < rounds; round++) {
    const p = moved(pins[round % pins.length]!);
    const t0 = now();
    void table.pin(p);
    us.push((now() - t0) * 1000);
  }
  return { us, snapshotChanged: steering() !== before };
}
const headerRows: string[][] = [['pinned users', 'pin table change µs p50 (p99)', 'xDS bytes sent per change', 'steering snapshot changed']];
for (const n of SIZES) {
  const h = headerCost(pinsOf(n));
  const s = summarize(h.us);
  headerRows.push([n.toLocaleString('en'), `${fmt(s.p50, 2)} (${fmt(s.p99, 2)})`, '0', h.snapshotChanged ? 'YES' : 'no']);
}

console.log(`xds.pins: routes. One pin change, ${ROUNDS} rounds per size; one Envoy 1.40 (--concurrency 1) per protocol, on 127.0.0.1.\n`);
console.log(table(rows));
console.log(`\nxds.pins: header (default). One pin change in the table ext_proc reads, ${Math.max(ROUNDS, 1000)} rounds per size.\n`);
console.log(table(headerRows));
process.exit(0);
