/**
 * A real Envoy started with the shipped envoy/envoy-delta.yaml (incremental xDS; users identified by a JWT signed
 * with a key made here) is fed by presencelb's ADS server: clusters, endpoints and routes arrive with per-resource
 * versions and are ACKed; a pin sends one response, the one RouteConfiguration, and Envoy applies it; unpin
 * withdraws the route the same way.
 */
import anyTest, { type TestFn } from 'ava';
import { mintToken, newSigningKey, type SigningKey } from '../../scripts/demo-token.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { pinRouteName } from '../../src/xds/resource-types/route.ts';
import { DELTA_BOOTSTRAP } from '../harness/envoy-delta.ts';
import { baseInput, countServers, dynamicRouteEntry, pinOf, sendsSince, startRig, USER_A, USER_B, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; pub: XdsRoutePublisher; key: SigningKey }>;
const NODE = 'envoy-delta';

test.before(async (t) => {
  const key = newSigningKey();
  const rig = await startRig({ nodeId: NODE, bootstrap: DELTA_BOOTSTRAP, jwks: key.jwks });
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  const { snapshotVersion } = pub.publishCurrent();
  await rig.envoy!.waitReady();
  await rig.ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 });
  t.context = { rig, pub, key };
});
test.after.always(async (t) => t.context.rig?.close());

const as = (key: SigningKey, user: string) => ({ authorization: `Bearer ${mintToken(key, { sub: user })}` });

test.serial('Envoy gets clusters, endpoints and routes over delta ADS, each resource with its own version, all ACKed', async (t) => {
  const { rig, key } = t.context;
  const envoy = rig.envoy!;
  const snap = rig.ads.current()!;
  t.deepEqual(sendsSince(rig.events, 0), ['CDS +2 -0', 'EDS +2 -0', 'RDS +1 -0']);
  t.true(rig.events.every((e) => e.type !== 'connect' || e.protocol === 'delta'));

  const clusters = await envoy.configDump('resource=dynamic_active_clusters');
  t.deepEqual(
    clusters.configs.map((c: any) => [c.cluster.name, c.version_info]).sort(),
    ['app-a', 'app-b'].map((n) => [n, snap.slice('CDS').resources.get(n)!.version]),
    'config_dump shows each cluster at its own version',
  );
  const status = await envoy.clusters();
  for (const app of rig.apps) {
    t.is(status.cluster_statuses.find((s: any) => s.name === app.name).host_statuses[0].address.socket_address.port_value, app.port, `${app.name} endpoint`);
  }
  const routes = await dynamicRouteEntry(envoy);
  t.is(routes?.version_info, snap.typeVersion('RDS'), 'the route configuration’s version is the same over delta and state of the world');
  t.deepEqual(routes?.route_config.virtual_hosts[0].routes.map((r: any) => r.name), ['default']);

  const [me] = rig.ads.envoys();
  t.like(me, { nodeId: NODE, protocol: 'delta', connected: true, appliedVersion: snap.version });
  t.deepEqual(me!.types.map((x) => [x.kind, x.ackedVersion]), (['CDS', 'EDS', 'RDS'] as const).map((k) => [k, snap.typeVersion(k)]));
  t.deepEqual(me!.types.find((x) => x.kind === 'EDS')!.subscribed, ['app-a', 'app-b']);
  t.true(me!.types.flatMap((x) => x.resources).every((r) => r.ackedVersion !== null && r.pendingVersion === null && r.nack === null));
  t.is((await envoy.stats('control_plane.connected_state'))['control_plane.connected_state'], 1);

  const spread = await countServers(envoy.listenerUrl, 30, undefined, as(key, USER_A));
  t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  t.deepEqual(await countServers(envoy.listenerUrl, 2), { 'status 401': 2 }, 'the shipped bootstrap still wants a token');
});

test.serial('a pin sends exactly one response, the RouteConfiguration; Envoy ACKs it and routes the user to the pinned server', async (t) => {
  const { rig, pub, key } = t.context;
  const envoy = rig.envoy!;
  const from = rig.events.length;
  const { version, snapshotVersion } = await pub.pin(pinOf(USER_A, 'app-b'));
  t.like(await rig.ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  t.deepEqual(sendsSince(rig.events, from), ['RDS +1 -0'], 'only the route configuration was sent');
  t.deepEqual(rig.events.slice(from).filter((e) => e.type === 'ack').map((e) => (e.type === 'ack' ? e.kind : '')), ['RDS']);
  const entry = await dynamicRouteEntry(envoy);
  t.is(entry?.version_info, version);
  t.deepEqual(entry?.route_config.virtual_hosts[0].routes.map((r: any) => r.name), [pinRouteName(USER_A), 'default']);
  t.deepEqual(await countServers(envoy.listenerUrl, 20, undefined, as(key, USER_A)), { 'app-b': 20 });
  const other = await countServers(envoy.listenerUrl, 30, undefined, as(key, USER_B));
  t.true((other['app-a'] ?? 0) > 0 && (other['app-b'] ?? 0) > 0, JSON.stringify(other));
  const rds = rig.ads.envoys()[0]!.types.find((x) => x.kind === 'RDS')!;
  t.like(rds, { ackedVersion: version, sentVersion: version });
  t.like(rds.resources[0], { name: 'presencelb-routes', ackedVersion: version, pendingVersion: null });
});

test.serial('unpin sends one RouteConfiguration without the route; Envoy ACKs it and the user spreads again', async (t) => {
  const { rig, pub, key } = t.context;
  const envoy = rig.envoy!;
  const from = rig.events.length;
  const { version, snapshotVersion } = await pub.unpin(USER_A);
  t.like(await rig.ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  t.deepEqual(sendsSince(rig.events, from), ['RDS +1 -0']);
  const entry = await dynamicRouteEntry(envoy);
  t.is(entry?.version_info, version);
  t.deepEqual(entry?.route_config.virtual_hosts[0].routes.map((r: any) => r.name), ['default']);
  const spread = await countServers(envoy.listenerUrl, 30, undefined, as(key, USER_A));
  t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  t.is(rig.events.filter((e) => e.type === 'nack').length, 0);
});
