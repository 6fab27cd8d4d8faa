/** Snapshot: build from state, consistency checks with field paths, content-derived versions, encoding. */
import test from 'ava';
import { Snapshot } from '../../src/xds/snapshot.ts';
import type { RouteConfigurationResource } from '../../src/xds/resource-types/route.ts';
import { build, decode, input } from './_snapshot.ts';
import type { PinRecord } from '../../src/core/ports.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import type { UserId } from '../../src/core/user-id.ts';

const U1 = '11111111-1111-4111-8111-111111111111' as UserId;
const U2 = '22222222-2222-4222-8222-222222222222' as UserId;
const pin = (user: UserId, appServer: string, createdAt = 1): PinRecord => ({ user, appServer, createdAt, expiresAt: createdAt + 60000 });

test('builds one EDS cluster and one assignment per app server, named as the server', (t) => {
  const s = build(input());
  t.deepEqual([...s.slice('CDS').resources.keys()], ['app-a', 'app-b']);
  t.deepEqual([...s.slice('EDS').resources.keys()], ['app-a', 'app-b']);
  t.deepEqual([...s.slice('RDS').resources.keys()], ['presencelb-routes']);
  t.is(s.slice('LDS').resources.size, 0, 'no listener is served by default');
  const cla = decode('envoy.config.endpoint.v3.ClusterLoadAssignment', s.slice('EDS').resources.get('app-b')!.value);
  t.deepEqual(cla, {
    cluster_name: 'app-b',
    endpoints: [{ locality: { sub_zone: 'app-b' }, load_balancing_weight: { value: 1 }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8082 } } } }] }],
  });
  const cluster = decode('envoy.config.cluster.v3.Cluster', s.slice('CDS').resources.get('app-a')!.value);
  t.like(cluster, { name: 'app-a', type: 'EDS', lb_policy: 'ROUND_ROBIN', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
});

test('routes: one per pin, sorted by user, ahead of the equal-weight default route', (t) => {
  const s = build(input([pin(U2, 'app-a'), pin(U1, 'app-b')]));
  const rc = s.resources('RDS')[0] as RouteConfigurationResource;
  const routes = rc.virtual_hosts[0]!.routes!;
  t.deepEqual(routes.map((r) => r.name), [`pin:${U1}`, `pin:${U2}`, 'default']);
  t.deepEqual(routes[0], {
    name: `pin:${U1}`,
    match: { prefix: '/', headers: [{ name: 'x-user-id', string_match: { exact: U1, ignore_case: true } }] },
    route: { cluster: 'app-b' },
  });
  t.deepEqual(routes[2]!.route, { weighted_clusters: { clusters: [{ name: 'app-a', weight: { value: 1 } }, { name: 'app-b', weight: { value: 1 } }] } });
  const decoded = decode('envoy.config.route.v3.RouteConfiguration', s.slice('RDS').resources.get('presencelb-routes')!.value);
  t.deepEqual(decoded.virtual_hosts[0].routes[0], routes[0], 'encodes exactly what was built');
  t.deepEqual(decoded.virtual_hosts[0].routes[2].route.weighted_clusters.clusters, [{ name: 'app-a', weight: { value: 1 } }, { name: 'app-b', weight: { value: 1 } }]);
});

test('with a pin header (xds.pins: header): one steering route per server, ahead of the default; pins change nothing else', (t) => {
  const s = build({ ...input(), pinHeader: 'x-presencelb-pin' });
  const routes = (s.resources("RDS")[0] as RouteConfigurationResource).virtual_hosts[0]!.routes!;
  t.deepEqual(routes.map((r) => r.name), ['pinned-to:app-a', 'pinned-to:app-b', 'default']);
  t.deepEqual(routes[1], { name: 'pinned-to:app-b', match: { prefix: '/', headers: [{ name: 'x-presencelb-pin', string_match: { exact: 'app-b' } }] }, route: { cluster: 'app-b' } });
  const decoded = decode('envoy.config.route.v3.RouteConfiguration', s.slice('RDS').resources.get('presencelb-routes')!.value);
  t.deepEqual(decoded.virtual_hosts[0].routes[1], routes[1], 'encodes exactly what was built');
  t.not(s.version, build(input()).version);
});

test('a pin naming an unknown server is SNAPSHOT_INCONSISTENT at its input path', (t) => {
  const r = Snapshot.build(input([pin(U1, 'app-a'), pin(U2, 'app-z')]));
  t.false(r.ok);
  if (r.ok) return;
  t.deepEqual(r.errors.map((e) => [e.code, e.path]), [['SNAPSHOT_INCONSISTENT', 'pins[1].appServer']]);
  t.regex(r.errors[0]!.message, /app-z/);
});

test('input checks: non-canonical user, duplicate user, no app servers', (t) => {
  const r = Snapshot.build({ ...input([pin('11111111-1111-4111-8111-11111111111X' as UserId, 'app-a'), pin(U2, 'app-a'), pin(U2, 'app-b')]) });
  t.false(r.ok);
  if (!r.ok) t.deepEqual(r.errors.map((e) => [e.code, e.path]), [['IDENTITY_MALFORMED', 'pins[0].user'], ['CONFIG_INVALID', 'pins[2].user']]);
  const none = Snapshot.build({ ...input(), appServers: [] });
  t.false(none.ok);
  if (!none.ok) t.true(none.errors.some((e) => e.path === 'appServers'));
});

test('fromResources: a route naming a missing cluster is SNAPSHOT_INCONSISTENT with the resource field path', (t) => {
  const s = build(input([pin(U1, 'app-b')]));
  const r = Snapshot.fromResources({ CDS: s.resources('CDS').filter((c) => (c as { name: string }).name !== 'app-b'), EDS: s.resources('EDS'), RDS: s.resources('RDS') });
  t.false(r.ok);
  if (r.ok) return;
  t.deepEqual(
    r.errors.map((e) => [e.code, e.path]),
    [
      ['SNAPSHOT_INCONSISTENT', 'RDS[presencelb-routes].virtual_hosts[0].routes[0].route.cluster'],
      ['SNAPSHOT_INCONSISTENT', 'RDS[presencelb-routes].virtual_hosts[0].routes[1].route.weighted_clusters.clusters[1].name'],
    ],
  );
});

test('fromResources: an EDS cluster without its assignment is SNAPSHOT_INCONSISTENT', (t) => {
  const s = build(input());
  const r = Snapshot.fromResources({ CDS: s.resources('CDS'), EDS: s.resources('EDS').slice(0, 1), RDS: s.resources('RDS') });
  t.false(r.ok);
  if (!r.ok) t.deepEqual(r.errors.map((e) => [e.code, e.path]), [['SNAPSHOT_INCONSISTENT', 'CDS[app-b].eds_cluster_config']]);
});

test('validation collects every error with its path (non-IP endpoint, bad port, zero weight)', (t) => {
  const bad = Snapshot.build({ ...input(), appServers: [{ name: 'app-a', host: 'app-a.local', port: 8081 }] });
  t.false(bad.ok);
  if (!bad.ok) t.deepEqual(bad.errors.map((e) => e.path), ['EDS[app-a].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address']);
  const s = build(input());
  const rc = structuredClone(s.resources('RDS')[0]) as any;
  rc.virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0].weight.value = 0;
  rc.virtual_hosts[0].domains = ['*', '*'];
  const r = Snapshot.fromResources({ CDS: s.resources('CDS'), EDS: s.resources('EDS'), RDS: [rc] });
  t.false(r.ok);
  if (!r.ok) {
    t.deepEqual(r.errors.map((e) => e.path).sort(), [
      'RDS[presencelb-routes].virtual_hosts[0].domains[1]',
      'RDS[presencelb-routes].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0].weight',
    ]);
  }
});

test('versions change only when content changes', (t) => {
  const a1 = build(input([pin(U1, 'app-a', 1), pin(U2, 'app-b', 1)]));
  const a2 = build(input([pin(U2, 'app-b', 999), pin(U1, 'app-a', 5)]));
  t.is(a1.version, a2.version, 'pin order and timestamps do not affect content');
  t.deepEqual(a1.typeVersions(), a2.typeVersions());
  const b = build(input([pin(U1, 'app-b')]));
  t.not(b.version, a1.version);
  t.is(b.typeVersion('CDS'), a1.typeVersion('CDS'), 'clusters did not change');
  t.is(b.typeVersion('EDS'), a1.typeVersion('EDS'), 'endpoints did not change');
  t.not(b.typeVersion('RDS'), a1.typeVersion('RDS'), 'routes did');
  const moved = build({ ...input(), appServers: [{ name: 'app-a', host: '127.0.0.1', port: 9999 }, { name: 'app-b', host: '127.0.0.1', port: 8082 }] });
  t.not(moved.typeVersion('EDS'), build(input()).typeVersion('EDS'));
  t.is(moved.typeVersion('CDS'), build(input()).typeVersion('CDS'));
});

test('snapshots are immutable', (t) => {
  const s = build(input([pin(U1, 'app-a')]));
  t.true(Object.isFrozen(s));
  const rc = s.resources('RDS')[0] as any;
  t.throws(() => {
    rc.virtual_hosts[0].routes.push({});
  });
  t.throws(() => {
    (s as any).version = 'x';
  });
});

test('listeners are built only when asked for, and must name an existing route configuration', (t) => {
  const s = build({ ...input(), listeners: [{ name: 'api' }, { name: 'tcp', address: { host: '127.0.0.1', port: 10001 } }] });
  t.deepEqual([...s.slice('LDS').resources.keys()], ['api', 'tcp']);
  const l = decode('envoy.config.listener.v3.Listener', s.slice('LDS').resources.get('api')!.value);
  t.is(l.api_listener.api_listener.type_url, 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
  const hcm = decode('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', l.api_listener.api_listener.value);
  t.like(hcm, { rds: { route_config_name: 'presencelb-routes', config_source: { ads: {} } } });
  const r = Snapshot.fromResources({ CDS: s.resources('CDS'), EDS: s.resources('EDS'), LDS: s.resources('LDS') });
  t.false(r.ok);
  if (!r.ok) t.deepEqual(r.errors.map((e) => e.path), ['LDS[api].api_listener.api_listener.rds.route_config_name', 'LDS[tcp].filter_chains[0].filters[0].typed_config.rds.route_config_name']);
});

test('XdsRoutePublisher: publishCurrent drops restored pins it can no longer publish and reports them', (t) => {
  const published: Snapshot[] = [];
  const { pins: _none, ...base } = input();
  const pub = new XdsRoutePublisher({
    sink: { publish: (s) => published.push(s) },
    base,
    initialPins: [pin(U1, 'app-a'), pin(U2, 'app-gone')],
  });
  const { snapshotVersion: version, dropped } = pub.publishCurrent();
  t.deepEqual(dropped.map((p) => p.user), [U2]);
  t.deepEqual(pub.pins().map((p) => p.user), [U1]);
  t.is(published.length, 1);
  t.is(published[0]!.version, version);
  t.is(version, build(input([pin(U1, 'app-a')])).version);
});
