/**
 * An independent ADS client (raw grpc-js, the service definition generated from Envoy's protos) consumes the
 * configuration over both variants. State of the world: held until publish, wildcard CDS, named EDS/RDS (the routes
 * once the clusters and their endpoints are ACKed), nonces and versions, only changed types pushed, a NACK recorded
 * and not answered. Delta: explicit wildcard, per-resource
 * versions, initial_resource_versions honoured, only changed resources pushed, a NACK not answered, unsubscribe,
 * and a name that does not exist reported in removed_resources.
 */
import anyTest, { type TestFn } from 'ava';
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { messageType, serviceClient } from '../../src/protos/envoy.ts';
import { ADS_SERVICE, AdsServer } from '../../src/xds/ads-server.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { typeUrlOfKind, type XdsKind } from '../../src/xds/resource-types/index.ts';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '../../src/xds/ads-types.ts';
import { baseInput, pinOf, testLogger, USER_A } from './_fixture.ts';

interface Response {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Buffer }[];
  control_plane?: { identifier: string };
}

/**
 * StreamClient is a minimal ADS client over either method (StreamAggregatedResources or DeltaAggregatedResources):
 * it writes requests and queues responses.
 */
class StreamClient<Req, Res> {
  readonly call: ClientDuplexStream<Req, Res>;
  readonly #queue: Res[] = [];
  readonly #waiting: ((r: Res) => void)[] = [];
  constructor(open: () => ClientDuplexStream<Req, Res>) {
    this.call = open();
    this.call.on('data', (r: Res) => {
      const w = this.#waiting.shift();
      if (w) w(r);
      else this.#queue.push(r);
    });
    this.call.on('error', () => {});
  }
  send(kind: XdsKind, fields: Partial<Req> = {}): void {
    this.call.write({ type_url: typeUrlOfKind(kind), ...fields } as Req);
  }
  next(timeoutMs = 2000): Promise<Res> {
    const q = this.#queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const w = (r: Res) => {
        clearTimeout(t);
        resolve(r);
      };
      const t = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(w), 1);
        reject(new Error('no response'));
      }, timeoutMs);
      this.#waiting.push(w);
    });
  }
  /** silent resolves true if nothing arrives within ms. */
  async silent(ms: number): Promise<boolean> {
    return this.next(ms).then(
      () => false,
      () => true,
    );
  }
}

/** AdsClient is the state-of-the-world client. */
class AdsClient extends StreamClient<DiscoveryRequest, Response> {
  constructor(readonly client: any) {
    super(() => client.StreamAggregatedResources());
  }
}

const decode = (r: { type_url: string; value: Buffer }): any => {
  const type = messageType(r.type_url.replace('type.googleapis.com/', ''));
  return type.toObject(type.decode(r.value), { enums: String });
};

const apps = [
  { name: 'app-a', host: '127.0.0.1', port: 8081 },
  { name: 'app-b', host: '127.0.0.1', port: 8082 },
];
const build = (pins: ReturnType<typeof pinOf>[] = []): Snapshot => {
  const r = Snapshot.build({ ...baseInput(apps), pins });
  if (!r.ok) throw new Error('bad snapshot');
  return r.value;
};

const test = anyTest as TestFn<{ ads: AdsServer; client: any }>;

test.before(async (t) => {
  const ads = new AdsServer({ logger: testLogger(), controlPlaneId: 'presencelb-test' });
  const port = await ads.start('127.0.0.1:0');
  const Ctor = serviceClient(ADS_SERVICE);
  t.context = { ads, client: new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) };
});
test.after.always(async (t) => {
  t.context.client?.close();
  await t.context.ads?.stop();
});

test.serial('state of the world over a raw grpc-js client', async (t) => {
  const { ads, client } = t.context;
  const c = new AdsClient(client);
  const node = { id: 'raw-1', cluster: 'tests' };
  c.send('CDS', { node });
  t.true(await c.silent(300), 'held before the first snapshot');

  const s0 = build();
  ads.publish(s0);
  const cds = await c.next();
  t.is(cds.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  t.is(cds.version_info, s0.typeVersion('CDS'));
  t.is(cds.control_plane?.identifier, 'presencelb-test');
  t.deepEqual(cds.resources.map((r) => decode(r).name), ['app-a', 'app-b']);
  t.like(decode(cds.resources[0]!), { type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });

  c.send('CDS', { version_info: cds.version_info, response_nonce: cds.nonce });
  // Like Envoy, the client asks for the assignment of every EDS cluster it holds: the routes wait until it holds them.
  c.send('EDS', { resource_names: ['app-a', 'app-b'] });
  const eds = await c.next();
  t.deepEqual(eds.resources.map((r) => decode(r).cluster_name), ['app-a', 'app-b']);
  t.deepEqual(decode(eds.resources[1]!).endpoints[0].lb_endpoints, [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8082 } } } }]);
  t.not(eds.nonce, cds.nonce);
  c.send('RDS', { resource_names: ['presencelb-routes'] });
  t.true(await c.silent(200), 'no routes before the endpoints of their clusters are ACKed');
  c.send('EDS', { version_info: eds.version_info, response_nonce: eds.nonce, resource_names: ['app-a', 'app-b'] });
  const rds = await c.next();
  t.is(decode(rds.resources[0]!).virtual_hosts[0].routes.at(-1).name, 'default');
  c.send('RDS', { version_info: rds.version_info, response_nonce: rds.nonce, resource_names: ['presencelb-routes'] });
  t.true(await c.silent(200), 'ACKs get no answer');
  t.like((await ads.waitForAck(s0.version, { nodeId: 'raw-1', timeoutMs: 2000 })), { status: 'acked' });

  // A pin changes only the routes.
  const s1 = build([pinOf(USER_A, 'app-a')]);
  ads.publish(s1);
  const push = await c.next();
  t.is(push.type_url, typeUrlOfKind('RDS'));
  t.deepEqual(decode(push.resources[0]!).virtual_hosts[0].routes.map((r: any) => r.name), [`pin:${USER_A}`, 'default']);
  t.true(await c.silent(200), 'nothing else was pushed');

  // NACK it: recorded, not resent.
  c.send('RDS', { version_info: rds.version_info, response_nonce: push.nonce, resource_names: ['presencelb-routes'], error_detail: { code: 3, message: 'raw client says no' } });
  t.like(await ads.waitForAck(s1.version, { nodeId: 'raw-1', timeoutMs: 2000 }), { status: 'nacked', kind: 'RDS', nack: { message: 'raw client says no', code: 3 } });
  t.true(await c.silent(300), 'the NACKed version is not sent again');
  const me = ads.envoys().find((e) => e.nodeId === 'raw-1')!;
  t.like(me.types.find((x) => x.kind === 'RDS'), { sentVersion: s1.typeVersion('RDS'), ackedVersion: s0.typeVersion('RDS'), lastNack: { version: s1.typeVersion('RDS'), message: 'raw client says no' } });
  t.is(me.appliedVersion, s0.version);

  c.call.end();
  await new Promise((r) => setTimeout(r, 200));
  t.like(ads.envoys().find((e) => e.nodeId === 'raw-1'), { connected: false, streams: 0 });
});

interface DeltaResponse {
  system_version_info: string;
  type_url: string;
  nonce: string;
  resources: { name: string; version: string; resource: { type_url: string; value: Buffer } }[];
  removed_resources: string[];
}

/** DeltaClient is the incremental (delta) client. */
class DeltaClient extends StreamClient<DeltaDiscoveryRequest, DeltaResponse> {
  constructor(client: any) {
    super(() => client.DeltaAggregatedResources());
  }
}

test.serial('incremental (delta) ADS over a raw grpc-js client', async (t) => {
  const ads = new AdsServer({ logger: testLogger(), controlPlaneId: 'presencelb-delta' });
  const port = await ads.start('127.0.0.1:0');
  const client = new (serviceClient(ADS_SERVICE))(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const s0 = build();
    const c = new DeltaClient(client);
    c.send('CDS', { node: { id: 'raw-delta', cluster: 'tests' }, resource_names_subscribe: ['*'] });
    t.true(await c.silent(300), 'held before the first snapshot');
    ads.publish(s0);
    const cds = await c.next();
    t.is(cds.system_version_info, s0.typeVersion('CDS'));
    t.deepEqual(cds.resources.map((r) => [r.name, r.version, decode(r.resource).name]), ['app-a', 'app-b'].map((n) => [n, s0.slice('CDS').resources.get(n)!.version, n]));
    t.deepEqual(cds.removed_resources ?? [], []);
    c.send('CDS', { response_nonce: cds.nonce });

    // The client already holds the routes at the current version: nothing is sent for them.
    c.send('RDS', { resource_names_subscribe: ['presencelb-routes'], initial_resource_versions: [{ key: 'presencelb-routes', value: s0.typeVersion('RDS') }] });
    // Like Envoy, the client asks for the assignment of every cluster it holds (routes to a cluster wait for it).
    c.send('EDS', { resource_names_subscribe: ['app-a', 'app-b'] });
    const eds = await c.next();
    t.deepEqual(eds.resources.map((r) => decode(r.resource).cluster_name), ['app-a', 'app-b']);
    c.send('EDS', { response_nonce: eds.nonce });
    t.true(await c.silent(200), 'ACKs get no answer, and RDS was held already');
    t.like(await ads.waitForAck(s0.version, { nodeId: 'raw-delta', timeoutMs: 2000 }), { status: 'acked' });

    // A pin changes one resource: the route configuration only.
    const s1 = build([pinOf(USER_A, 'app-a')]);
    ads.publish(s1);
    const push = await c.next();
    t.is(push.type_url, typeUrlOfKind('RDS'));
    t.deepEqual(push.resources.map((r) => r.name), ['presencelb-routes']);
    t.deepEqual(decode(push.resources[0]!.resource).virtual_hosts[0].routes.map((r: any) => r.name), [`pin:${USER_A}`, 'default']);
    t.true(await c.silent(200), 'nothing else was pushed');
    c.send('RDS', { response_nonce: push.nonce, error_detail: { code: 3, message: 'raw delta client says no' } });
    t.like(await ads.waitForAck(s1.version, { nodeId: 'raw-delta', timeoutMs: 2000 }), { status: 'nacked', kind: 'RDS', nack: { message: 'raw delta client says no' } });
    t.true(await c.silent(300), 'the NACKed version is not sent again');

    // Unsubscribing is not answered; a name that does not exist is reported removed.
    c.send('EDS', { resource_names_unsubscribe: ['app-a', 'app-b'] });
    t.true(await c.silent(200));
    c.send('EDS', { resource_names_subscribe: ['app-zz'] });
    const gone = await c.next();
    t.like(gone, { type_url: typeUrlOfKind('EDS'), removed_resources: ['app-zz'] });
    t.deepEqual(gone.resources ?? [], []);
    const me = ads.envoys().find((e) => e.nodeId === 'raw-delta')!;
    t.like(me, { protocol: 'delta', connected: true });
    t.deepEqual(me.types.find((x) => x.kind === 'EDS')!.subscribed, ['app-zz']);
    c.call.end();
  } finally {
    client.close();
    await ads.stop();
  }
});
