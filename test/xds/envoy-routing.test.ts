/**
 * A real Envoy fed by presencelb's ADS server: clusters and routes arrive, the default route spreads users over
 * both application servers, a pin moves one user's requests to one server, ACKs are recorded, unpin withdraws the
 * route. presencelb's ext_proc server is not running: failure_mode_allow must let traffic through.
 */
import anyTest, { type TestFn } from 'ava';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { pinRouteName } from '../../src/xds/resource-types/route.ts';
import { isPlbError } from '../../src/core/errors.ts';
import { baseInput, countServers, dynamicClusterNames, dynamicRouteConfig, pinOf, startRig, USER_A, USER_B, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; pub: XdsRoutePublisher }>;

test.before(async (t) => {
  const rig = await startRig();
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  pub.publishCurrent();
  await rig.envoy!.waitReady();
  t.context = { rig, pub };
});
test.after.always(async (t) => t.context.rig?.close());

test.serial('Envoy receives both clusters, their endpoints and the route configuration over ADS', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  t.deepEqual(await dynamicClusterNames(envoy), ['app-a', 'app-b']);
  const clusters = await envoy.clusters();
  for (const app of rig.apps) {
    const c = clusters.cluster_statuses.find((s: any) => s.name === app.name);
    t.is(c.host_statuses[0].address.socket_address.port_value, app.port, `${app.name} endpoint`);
  }
  const rc = await dynamicRouteConfig(envoy);
  t.is(rc.name, 'presencelb-routes');
  t.deepEqual(rc.virtual_hosts[0].routes, [{ name: 'default', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'app-a', weight: 1 }, { name: 'app-b', weight: 1 }] } } }]);
  const stats = await envoy.stats('control_plane.connected_state');
  t.is(stats['control_plane.connected_state'], 1);
  t.is((await envoy.stats('rds'))['http.app.rds.presencelb-routes.version_text'], rig.ads.current()!.typeVersion('RDS'));
  const [me, ...others] = rig.ads.envoys();
  t.deepEqual(others, []);
  const snap = rig.ads.current()!;
  t.like(me, { nodeId: 'envoy-1', cluster: 'presencelb', connected: true, appliedVersion: snap.version });
  t.deepEqual(me!.types.map((x) => [x.kind, x.ackedVersion]), [['CDS', snap.typeVersion('CDS')], ['EDS', snap.typeVersion('EDS')], ['RDS', snap.typeVersion('RDS')]]);
  t.deepEqual(me!.types.find((x) => x.kind === 'EDS')!.subscribed, ['app-a', 'app-b']);
  t.is(me!.types.find((x) => x.kind === 'CDS')!.subscribed, '*');
});

test.serial('the default route spreads requests over both servers, ext_proc being down (failure_mode_allow)', async (t) => {
  const { rig } = t.context;
  const anyone = await countServers(rig.envoy!.listenerUrl, 30);
  const userA = await countServers(rig.envoy!.listenerUrl, 30, USER_A);
  t.true((anyone['app-a'] ?? 0) > 0 && (anyone['app-b'] ?? 0) > 0, JSON.stringify(anyone));
  t.true((userA['app-a'] ?? 0) > 0 && (userA['app-b'] ?? 0) > 0, JSON.stringify(userA));
  const ext = await rig.envoy!.stats('http\\.app\\.ext_proc');
  t.true(Number(ext['http.app.ext_proc.failure_mode_allowed']) >= 60, JSON.stringify(ext));
});

test.serial('a pin sends all of that user’s requests to the pinned server; others still spread', async (t) => {
  const { rig, pub } = t.context;
  const { snapshotVersion: version } = await pub.pin(pinOf(USER_A, 'app-b'));
  t.is(version, rig.ads.current()!.version);
  const outcome = await rig.ads.waitForAck(version, { nodeId: 'envoy-1', timeoutMs: 5000 });
  t.like(outcome, { status: 'acked', version, nodes: [{ id: 'envoy-1', cluster: 'presencelb' }] });
  t.is(rig.ads.envoys()[0]!.appliedVersion, version);

  const routes = (await dynamicRouteConfig(rig.envoy!)).virtual_hosts[0].routes;
  t.deepEqual(routes.map((r: any) => r.name), [pinRouteName(USER_A), 'default']);
  t.deepEqual(routes[0], {
    name: pinRouteName(USER_A),
    match: { prefix: '/', headers: [{ name: 'x-user-id', string_match: { exact: USER_A, ignore_case: true } }] },
    route: { cluster: 'app-b' },
  });
  t.deepEqual(await countServers(rig.envoy!.listenerUrl, 20, USER_A), { 'app-b': 20 });
  t.deepEqual(await countServers(rig.envoy!.listenerUrl, 5, USER_A.toUpperCase()), { 'app-b': 5 }, 'the match ignores case');
  const userB = await countServers(rig.envoy!.listenerUrl, 30, USER_B);
  t.true((userB['app-a'] ?? 0) > 0 && (userB['app-b'] ?? 0) > 0, JSON.stringify(userB));
});

test.serial('re-pinning moves the user; only the route configuration is pushed', async (t) => {
  const { rig, pub } = t.context;
  const before = rig.ads.current()!;
  const sendsBefore = rig.events.filter((e) => e.type === 'send').length;
  const { snapshotVersion: version } = await pub.pin(pinOf(USER_A, 'app-a'));
  t.is((await rig.ads.waitForAck(version, { timeoutMs: 5000 })).status, 'acked');
  const pushed = rig.events.slice().filter((e) => e.type === 'send').slice(sendsBefore);
  t.deepEqual(pushed.map((e) => (e.type === 'send' ? e.kind : '')), ['RDS']);
  t.is(rig.ads.current()!.typeVersion('CDS'), before.typeVersion('CDS'));
  t.deepEqual(await countServers(rig.envoy!.listenerUrl, 20, USER_A), { 'app-a': 20 });
});

test.serial('unpin withdraws the route and the user spreads again', async (t) => {
  const { rig, pub } = t.context;
  const { snapshotVersion: version } = await pub.unpin(USER_A);
  t.is((await rig.ads.waitForAck(version, { timeoutMs: 5000 })).status, 'acked');
  const routes = (await dynamicRouteConfig(rig.envoy!)).virtual_hosts[0].routes;
  t.deepEqual(routes.map((r: any) => r.name), ['default']);
  const userA = await countServers(rig.envoy!.listenerUrl, 30, USER_A);
  t.true((userA['app-a'] ?? 0) > 0 && (userA['app-b'] ?? 0) > 0, JSON.stringify(userA));
  t.deepEqual(pub.pins(), []);
});

test.serial('a pin naming an unknown server is refused and changes nothing', async (t) => {
  const { rig, pub } = t.context;
  const version = rig.ads.current()!.version;
  const err = await t.throwsAsync(pub.pin(pinOf(USER_B, 'app-z')));
  t.true(isPlbError(err, 'SNAPSHOT_INCONSISTENT'), String(err));
  t.regex(err!.message, /pins\[0\]\.appServer/);
  t.is(rig.ads.current()!.version, version);
  t.deepEqual(pub.pins(), []);
});

test.serial('waitForAck: an unknown version, and a node that is not connected', async (t) => {
  const { rig } = t.context;
  t.deepEqual(await rig.ads.waitForAck('nope', { timeoutMs: 100 }), { status: 'unknown_version', version: 'nope' });
  const v = rig.ads.current()!.version;
  t.like(await rig.ads.waitForAck(v, { nodeId: 'envoy-9', timeoutMs: 200 }), { status: 'timeout', pending: [] });
  t.like(await rig.ads.waitForAck(v, { timeoutMs: 200 }), { status: 'acked' }, 'already applied: resolves at once');
});
