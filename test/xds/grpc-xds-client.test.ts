/**
 * A second, independent xDS implementation consumes presencelb's configuration: gRPC's own xDS client
 * (@grpc/grpc-js-xds) resolves `xds:///presencelb-api` through LDS (an API listener), RDS, CDS and EDS from the
 * same kind of snapshot Envoy gets, and routes RPCs by the identity header exactly as Envoy does: pinned users to
 * their server, everyone else spread by the weighted default route.
 */
import anyTest, { type TestFn } from 'ava';
import { Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { baseInput, pinOf, testLogger, USER_A, USER_B } from './_fixture.ts';

const buf = (b: Buffer) => b;
const service: ServiceDefinition = {
  Who: { path: '/presencelb.test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: buf, requestDeserialize: buf, responseSerialize: buf, responseDeserialize: buf },
};

/** startGrpcApp starts a gRPC application server that answers Who with its name. */
async function startGrpcApp(name: string): Promise<{ name: string; host: string; port: number; server: Server }> {
  const server = new Server();
  server.addService(service, { Who: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from(name)) });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { name, host: '127.0.0.1', port, server };
}

const test = anyTest as TestFn<{ ads: AdsServer; pub: XdsRoutePublisher; client: any; apps: Awaited<ReturnType<typeof startGrpcApp>>[] }>;

test.before(async (t) => {
  const apps = [await startGrpcApp('app-a'), await startGrpcApp('app-b')];
  const ads = new AdsServer({ logger: testLogger() });
  const port = await ads.start('127.0.0.1:0');
  const pub = new XdsRoutePublisher({ sink: ads, base: { ...baseInput(apps), listeners: [{ name: 'presencelb-api' }] } });
  pub.publishCurrent();
  // The bootstrap goes in through grpc-js-xds's test-only channel option: in 1.14.1 the resolver dereferences a
  // null bootstrap when it comes from GRPC_XDS_BOOTSTRAP_CONFIG (getListenerResourceName(this.bootstrapInfo…)).
  const bootstrap = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-client-1', cluster: 'tests', locality: {} },
  });
  grpcXds.register();
  const Client = makeGenericClientConstructor(service, 'Echo');
  t.context = { ads, pub, apps, client: new Client('xds:///presencelb-api', credentials.createInsecure(), { 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap }) };
});
test.after.always(async (t) => {
  t.context.client?.close();
  await t.context.ads?.stop();
  for (const a of t.context.apps ?? []) a.server.forceShutdown();
});

function who(client: any, user?: string): Promise<string> {
  const md = new Metadata();
  if (user) md.set('x-user-id', user);
  return new Promise((resolve, reject) =>
    client.Who(Buffer.alloc(0), md, { deadline: Date.now() + 5000 }, (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r.toString()))),
  );
}

async function count(client: any, n: number, user?: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const s = await who(client, user);
    out[s] = (out[s] ?? 0) + 1;
  }
  return out;
}

test.serial('gRPC’s xDS client resolves the API listener and spreads RPCs by the default route', async (t) => {
  const { ads, client } = t.context;
  const spread = await count(client, 30, USER_A);
  t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  // gRPC names the clusters it wants (no wildcard) and asks for the listener by name.
  const outcome = await ads.waitForAck(ads.current()!.version, { nodeId: 'grpc-client-1', timeoutMs: 5000 });
  t.is(outcome.status, 'acked');
  const me = ads.envoys().find((e) => e.nodeId === 'grpc-client-1')!;
  t.deepEqual(me.types.map((x) => [x.kind, x.subscribed]), [['CDS', ['app-a', 'app-b']], ['EDS', ['app-a', 'app-b']], ['LDS', ['presencelb-api']], ['RDS', ['presencelb-routes']]]);
});

test.serial('a pin routes that user’s RPCs to the pinned server', async (t) => {
  const { ads, pub, client } = t.context;
  const { snapshotVersion: version } = await pub.pin(pinOf(USER_A, 'app-b'));
  t.is((await ads.waitForAck(version, { nodeId: 'grpc-client-1', timeoutMs: 5000 })).status, 'acked');
  t.deepEqual(await count(client, 20, USER_A), { 'app-b': 20 });
  const other = await count(client, 30, USER_B);
  t.true((other['app-a'] ?? 0) > 0 && (other['app-b'] ?? 0) > 0, JSON.stringify(other));
  await pub.unpin(USER_A);
});
