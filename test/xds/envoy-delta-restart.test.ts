/**
 * The ADS server restarts on the same port while a delta Envoy runs. Envoy keeps serving its configuration while
 * the server is away, reconnects and says which resource versions it holds (initial_resource_versions); the new
 * server holds its requests until its first snapshot (nothing, least of all an empty configuration, is sent before),
 * and then sends only what Envoy lacks: nothing when the state is the same, the one RouteConfiguration when a pin
 * changed while the server was away.
 */
import anyTest, { type TestFn } from 'ava';
import { AdsServer } from '../../src/xds/ads-server.ts';
import type { AdsEvent } from '../../src/xds/ads-types.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { pinRouteName } from '../../src/xds/resource-types/route.ts';
import { TRUSTED_HEADER_BOOTSTRAP } from '../harness/envoy.ts';
import { deltaVariant } from '../harness/envoy-delta.ts';
import { waitFor } from '../harness/ports.ts';
import { baseInput, countServers, dynamicRouteEntry, pinOf, sendsSince, startRig, testLogger, USER_A, USER_B, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; servers: AdsServer[] }>;
const NODE = 'envoy-delta-restart';

test.before(async (t) => {
  const rig = await startRig({ nodeId: NODE, bootstrap: deltaVariant(TRUSTED_HEADER_BOOTSTRAP) });
  t.context = { rig, servers: [] };
});
test.after.always(async (t) => {
  for (const s of t.context.servers ?? []) await s.stop();
  await t.context.rig?.close();
});

/** restart stops the rig's server and starts a new one on the same port (it becomes the rig's), without publishing. */
async function restart(t: { context: { rig: Rig; servers: AdsServer[] } }): Promise<{ ads: AdsServer; events: AdsEvent[] }> {
  const { rig } = t.context;
  await rig.ads.stop();
  const events: AdsEvent[] = [];
  const ads = new AdsServer({ logger: testLogger(), onEvent: (e) => events.push(e) });
  t.context.servers.push(ads);
  rig.ads = ads;
  await ads.start(`127.0.0.1:${rig.xdsPort}`);
  return { ads, events };
}

/** reconnected waits until Envoy has reopened its subscriptions to clusters, endpoints and routes on ads. */
const reconnected = (ads: AdsServer) =>
  waitFor('Envoy to reconnect and subscribe again', () => {
    const me = ads.envoys().find((e) => e.nodeId === NODE && e.connected);
    return me && ['CDS', 'EDS', 'RDS'].every((k) => me.types.some((x) => x.kind === k)) ? me : null;
  }, 20000);

test.serial('a restarted server holds Envoy’s requests until publish, then sends nothing Envoy already holds', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps), initialPins: [pinOf(USER_A, 'app-b')] });
  const first = pub.publishCurrent();
  await envoy.waitReady();
  t.like(await rig.ads.waitForAck(first.snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  const before = rig.ads.current()!;

  const { ads, events } = await restart(t);
  // While the server is away and then holding requests, Envoy serves what it has.
  t.deepEqual(await countServers(envoy.listenerUrl, 10, USER_A), { 'app-b': 10 });
  const me = await reconnected(ads);
  t.like(me, { protocol: 'delta', appliedVersion: null });
  const held = Object.fromEntries(me.types.map((x) => [x.kind, x.resources.map((r) => [r.name, r.ackedVersion])]));
  t.deepEqual(held, {
    CDS: [...before.slice('CDS').resources.values()].map((r) => [r.name, r.version]),
    EDS: [...before.slice('EDS').resources.values()].map((r) => [r.name, r.version]),
    RDS: [['presencelb-routes', before.typeVersion('RDS')]],
  }, 'Envoy reported the versions it holds');
  await new Promise((r) => setTimeout(r, 1000));
  t.deepEqual(sendsSince(events, 0), [], 'requests are held: nothing is sent before the first snapshot');
  t.is((await dynamicRouteEntry(envoy))?.version_info, before.typeVersion('RDS'));
  t.deepEqual(await countServers(envoy.listenerUrl, 10, USER_A), { 'app-b': 10 });

  // The same state, restored: the same versions, so nothing at all is sent, and Envoy counts as up to date.
  const pub2 = new XdsRoutePublisher({ sink: ads, base: baseInput(rig.apps), initialPins: pub.pins() });
  const restored = pub2.publishCurrent();
  t.is(restored.snapshotVersion, before.version, 'versions are content digests, the same across restarts');
  t.like(await ads.waitForAck(restored.snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(sendsSince(events, 0), []);
  t.is((await envoy.stats('control_plane.connected_state'))['control_plane.connected_state'], 1);

  // Life goes on: the next pin is one RouteConfiguration.
  const { snapshotVersion } = await pub2.pin(pinOf(USER_B, 'app-a'));
  t.like(await ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  t.deepEqual(sendsSince(events, 0), ['RDS +1 -0']);
  t.deepEqual(await countServers(envoy.listenerUrl, 10, USER_B), { 'app-a': 10 });
});

test.serial('state changed while the server was away: only the changed RouteConfiguration is sent on reconnect', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  const { ads, events } = await restart(t);
  // Published before Envoy is back: its first requests are answered at once, with what it lacks only.
  const pub = new XdsRoutePublisher({ sink: ads, base: baseInput(rig.apps), initialPins: [pinOf(USER_B, 'app-a')] });
  const { version, snapshotVersion } = pub.publishCurrent();
  await reconnected(ads);
  t.like(await ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 10000 }), { status: 'acked' });
  t.deepEqual(sendsSince(events, 0), ['RDS +1 -0']);
  const entry = await dynamicRouteEntry(envoy);
  t.is(entry?.version_info, version);
  t.deepEqual(entry?.route_config.virtual_hosts[0].routes.map((r: any) => r.name), [pinRouteName(USER_B), 'default']);
  const userA = await countServers(envoy.listenerUrl, 30, USER_A);
  t.true((userA['app-a'] ?? 0) > 0 && (userA['app-b'] ?? 0) > 0, JSON.stringify(userA));
  t.deepEqual(await countServers(envoy.listenerUrl, 10, USER_B), { 'app-a': 10 });
});
