/**
 * extProc.offPath in the route table: with off-path users the one virtual host resolves routes through a match tree
 * on the identity header (each off-path user's entry disables ext_proc), falling through to the usual route list.
 */
import test from 'ava';
import { Snapshot } from '../../src/xds/snapshot.ts';
import type { SnapshotInput } from '../../src/xds/snapshot-input.ts';
import { routeConfigurationType, type RouteConfigurationResource, type RouteResource } from '../../src/xds/resource-types/route.ts';
import { messageType } from '../../src/protos/envoy.ts';
import { build, decode, input as baseInput } from './_snapshot.ts';
import type { PinRecord } from '../../src/core/ports.ts';
import type { UserId } from '../../src/core/user-id.ts';

const U1 = '11111111-1111-4111-8111-111111111111' as UserId;
const U2 = '22222222-2222-4222-8222-222222222222' as UserId;
const U3 = '33333333-3333-4333-8333-333333333333' as UserId;
const U4 = 'abcdefab-cdef-4abc-8def-abcdefabcdef' as UserId;
const FILTER = 'my.ext_proc';
const T = 'type.googleapis.com/';
const pin = (user: UserId, appServer: string, createdAt = 1): PinRecord => ({ user, appServer, createdAt, expiresAt: createdAt + 60000 });

/** input: the shared test input with these pins, and off-path users (under FILTER) when given. */
const input = (pins: PinRecord[] = [], offUsers?: string[], extProcFilter = FILTER): SnapshotInput => baseInput(pins, offUsers ? { users: offUsers, extProcFilter } : undefined);

/** rds is the route configuration the RDS type builds for input (no encoding), after checking it validates. */
const rds = (i: SnapshotInput): RouteConfigurationResource => {
  const [rc] = routeConfigurationType.build(i);
  const v = routeConfigurationType.validate(rc!, 'RDS');
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return rc!;
};

/** entries lists a proto map as [key, value] pairs, whether it is held as an object or as a list of {key, value}. */
const entries = (m: unknown): [string, any][] =>
  Array.isArray(m) ? m.map((e: { key: string; value: unknown }) => [e.key, e.value]) : Object.entries((m ?? {}) as Record<string, unknown>);

const WEIGHTED = { weighted_clusters: { clusters: [{ name: 'app-a', weight: { value: 1 } }, { name: 'app-b', weight: { value: 1 } }] } };
/** PER_FILTER is the typed_per_filter_config of an off-path route: ext_proc disabled under the configured filter name. */
const PER_FILTER: [string, unknown][] = [[FILTER, { '@type': `${T}envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute`, disabled: true }]];
const perFilter = (m: unknown): [string, unknown][] => entries(m);

test('no offPath, or an empty off-path set: plain routes, the same content and version as before', (t) => {
  const plain = build(input([pin(U1, 'app-b')]));
  const empty = build(input([pin(U1, 'app-b')], []));
  for (const s of [plain, empty]) {
    const vh = (s.resources('RDS')[0] as RouteConfigurationResource).virtual_hosts[0]!;
    t.is(vh.matcher, undefined);
    t.deepEqual(vh.routes!.map((r) => r.name), [`pin:${U1}`, 'default']);
    const decoded = decode('envoy.config.route.v3.RouteConfiguration', s.slice('RDS').resources.get('presencelb-routes')!.value);
    t.is(decoded.virtual_hosts[0].matcher, undefined);
    t.is(decoded.virtual_hosts[0].routes.length, 2);
  }
  t.is(empty.typeVersion('RDS'), plain.typeVersion('RDS'));
  t.is(empty.version, plain.version);
});

test('off-path users: a matcher on the identity header instead of routes, keys sorted, ext_proc disabled under the configured filter name', (t) => {
  const rc = rds(input([], [U3, U4, U1]));
  const vh = rc.virtual_hosts[0]!;
  t.is(vh.routes, undefined, 'routes or a matcher, never both');
  t.deepEqual(vh.domains, ['*']);
  const m = vh.matcher!;
  t.deepEqual(m.matcher_tree.input.typed_config, { '@type': `${T}envoy.type.matcher.v3.HttpRequestHeaderMatchInput`, header_name: 'x-user-id' });
  const map = entries(m.matcher_tree.exact_match_map.map);
  t.deepEqual(map.map(([k]) => k), [U1, U3, U4]);
  const action = map[0]![1].action;
  t.like(action, { name: 'off-path', typed_config: { '@type': `${T}envoy.config.route.v3.Route`, name: 'off-path', match: { prefix: '/' }, route: WEIGHTED } });
  t.is(action.typed_config.match.headers, undefined, 'the map matched the user already');
  t.deepEqual(perFilter(action.typed_config.typed_per_filter_config), PER_FILTER);
  t.deepEqual(map[1]![1], map[0]![1], 'every unpinned off-path user has the same entry');
  t.deepEqual(map[2]![1], map[0]![1]);
  // Everyone else falls through to the plain route list: here the default route alone.
  t.is(m.on_no_match.action.typed_config['@type'], `${T}envoy.config.route.v3.RouteList`);
  const rest = (m.on_no_match.action.typed_config as { routes: readonly RouteResource[] }).routes;
  t.deepEqual(rest, rds(input()).virtual_hosts[0]!.routes);
  t.is(rest[0]!.typed_per_filter_config, undefined, 'the fall-through routes keep ext_proc');
});

test('an off-path user who is pinned goes to the pinned server, ext_proc disabled; the pin stays in the fall-through list too', (t) => {
  const m = rds(input([pin(U1, 'app-b'), pin(U2, 'app-a')], [U1, U3])).virtual_hosts[0]!.matcher!;
  const map = entries(m.matcher_tree.exact_match_map.map);
  t.deepEqual(map.map(([k]) => k), [U1, U3], 'a pin alone does not make a user off-path');
  const pinned = map[0]![1].action;
  t.like(pinned, { name: `pin:${U1}`, typed_config: { '@type': `${T}envoy.config.route.v3.Route`, name: `pin:${U1}`, match: { prefix: '/' }, route: { cluster: 'app-b' } } });
  t.deepEqual(perFilter(pinned.typed_config.typed_per_filter_config), PER_FILTER);
  t.like(map[1]![1].action.typed_config, { name: 'off-path', route: WEIGHTED });
  t.deepEqual(perFilter(map[1]![1].action.typed_config.typed_per_filter_config), PER_FILTER);
  const rest = (m.on_no_match.action.typed_config as { routes: readonly RouteResource[] }).routes;
  t.deepEqual(rest.map((r) => r.name), [`pin:${U1}`, `pin:${U2}`, 'default']);
  t.deepEqual(rest, rds(input([pin(U1, 'app-b'), pin(U2, 'app-a')])).virtual_hosts[0]!.routes, 'the fall-through list is the route list without off-path users');
});

test('pins of users who are not off-path stay in the fall-through list, ahead of the default route', (t) => {
  const m = rds(input([pin(U2, 'app-a'), pin(U1, 'app-b')], [U3])).virtual_hosts[0]!.matcher!;
  const rest = (m.on_no_match.action.typed_config as { routes: readonly RouteResource[] }).routes;
  t.deepEqual(rest.map((r) => r.name), [`pin:${U1}`, `pin:${U2}`, 'default']);
  t.deepEqual(rest[1], {
    name: `pin:${U2}`,
    match: { prefix: '/', headers: [{ name: 'x-user-id', string_match: { exact: U2, ignore_case: true } }] },
    route: { cluster: 'app-a' },
  });
  t.deepEqual(rest[2]!.route, WEIGHTED);
  t.deepEqual(entries(m.matcher_tree.exact_match_map.map).map(([k]) => k), [U3]);
});

test('the route configuration with a matcher encodes and decodes back (Any type URLs, entries, ext_proc disabled)', (t) => {
  const s = build(input([pin(U1, 'app-b'), pin(U2, 'app-a')], [U3, U1]));
  const rc = decode('envoy.config.route.v3.RouteConfiguration', s.slice('RDS').resources.get('presencelb-routes')!.value);
  t.is(rc.name, 'presencelb-routes');
  const vh = rc.virtual_hosts[0];
  t.deepEqual(vh.routes ?? [], []);
  const tree = vh.matcher.matcher_tree;
  t.is(tree.input.typed_config.type_url, `${T}envoy.type.matcher.v3.HttpRequestHeaderMatchInput`);
  t.deepEqual(decode('envoy.type.matcher.v3.HttpRequestHeaderMatchInput', tree.input.typed_config.value), { header_name: 'x-user-id' });

  const map = entries(tree.exact_match_map.map);
  t.deepEqual(map.map(([k]) => k).sort(), [U1, U3]);
  const byUser = new Map(map);
  const routeOf = (user: string): any => {
    const action = byUser.get(user).action;
    t.is(action.typed_config.type_url, `${T}envoy.config.route.v3.Route`);
    return decode('envoy.config.route.v3.Route', action.typed_config.value);
  };
  const pinned = routeOf(U1);
  t.is(pinned.name, `pin:${U1}`);
  t.deepEqual(pinned.route.cluster, 'app-b');
  const unpinned = routeOf(U3);
  t.is(unpinned.name, 'off-path');
  t.deepEqual(unpinned.route.weighted_clusters.clusters, WEIGHTED.weighted_clusters.clusters);
  for (const r of [pinned, unpinned]) {
    const perFilter = entries(r.typed_per_filter_config);
    t.deepEqual(perFilter.map(([k]) => k), [FILTER]);
    const any = perFilter[0]![1];
    t.is(any.type_url, `${T}envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute`);
    t.deepEqual(decode('envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', any.value), { disabled: true });
  }

  const noMatch = vh.matcher.on_no_match.action.typed_config;
  t.is(noMatch.type_url, `${T}envoy.config.route.v3.RouteList`);
  const list = decode('envoy.config.route.v3.RouteList', noMatch.value);
  t.deepEqual(list.routes.map((r: { name: string }) => r.name), [`pin:${U1}`, `pin:${U2}`, 'default']);
  t.deepEqual(list.routes[1].match.headers, [{ name: 'x-user-id', string_match: { exact: U2, ignore_case: true } }]);
});

test('identityAtStart (a trusted gateway\'s header): ext_proc disabled by a route FilterConfig, which keeps the filter out of the chain', (t) => {
  const s = build(baseInput([pin(U1, 'app-b')], { users: [U1, U3], extProcFilter: FILTER, identityAtStart: true }));
  const decoded = decode('envoy.config.route.v3.RouteConfiguration', s.slice('RDS').resources.get('presencelb-routes')!.value);
  const map = entries(decoded.virtual_hosts[0].matcher.matcher_tree.exact_match_map.map);
  t.deepEqual(map.map(([k]) => k), [U1, U3]);
  for (const [, v] of map) {
    const route = decode('envoy.config.route.v3.Route', v.action.typed_config.value);
    const perFilter = entries(route.typed_per_filter_config);
    t.deepEqual(perFilter.map(([k]) => k), [FILTER]);
    t.is(perFilter[0]![1].type_url, `${T}envoy.config.route.v3.FilterConfig`);
    t.deepEqual(decode('envoy.config.route.v3.FilterConfig', perFilter[0]![1].value), { disabled: true });
  }
  // Without it (a JWT's header comes later): the filter's own ExtProcPerRoute, as in the test above.
  const rc = rds(baseInput([], { users: [U3], extProcFilter: FILTER, identityAtStart: false }));
  const entry = rc.virtual_hosts[0]!.matcher!.matcher_tree.exact_match_map.map[0]!.value.action.typed_config as RouteResource;
  t.deepEqual(entry.typed_per_filter_config, [{ key: FILTER, value: { '@type': `${T}envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute`, disabled: true } }]);
});

test('Snapshot.build refuses non-canonical or malformed off-path users, and a missing filter name, at their input paths', (t) => {
  const r = Snapshot.build(input([], [U1, U4.toUpperCase(), 'not-a-uuid', `{${U3}}`.slice(0, 36)]));
  t.false(r.ok);
  if (!r.ok) {
    t.deepEqual(r.errors.map((e) => [e.code, e.path]), [
      ['IDENTITY_MALFORMED', 'offPath.users[1]'],
      ['IDENTITY_MALFORMED', 'offPath.users[2]'],
      ['IDENTITY_MALFORMED', 'offPath.users[3]'],
    ]);
    t.regex(r.errors[0]!.message, /lower-case/);
  }
  const noFilter = Snapshot.build(input([], [U1], ''));
  t.false(noFilter.ok);
  if (!noFilter.ok) t.deepEqual(noFilter.errors.map((e) => [e.code, e.path]), [['CONFIG_INVALID', 'offPath.extProcFilter']]);
});

test('fromResources: clusters named by match-map entries are references (SNAPSHOT_INCONSISTENT at the entry path)', (t) => {
  const base = build(input());
  // The RDS type builds whatever it is given: U1's pin names a server the snapshot has no cluster for, and app-b is withdrawn.
  const rc = routeConfigurationType.build(input([pin(U1, 'app-z')], [U1, U3]));
  const r = Snapshot.fromResources({ CDS: base.resources('CDS').filter((c) => (c as { name: string }).name !== 'app-b'), EDS: base.resources('EDS'), RDS: rc });
  t.false(r.ok);
  if (r.ok) return;
  t.true(r.errors.every((e) => e.code === 'SNAPSHOT_INCONSISTENT'), JSON.stringify(r.errors));
  const vh = 'RDS\\[presencelb-routes\\]\\.virtual_hosts\\[0\\]\\.matcher';
  // A map entry's path names the entry by its user (map[<uuid>]) or by its index in the entry list (map[<k>].value).
  const entry = (user: string, k: number): string => `${vh}\\.matcher_tree\\.exact_match_map\\.map\\[(?:${user}\\]|${k}\\]\\.value)\\.action\\.typed_config`;
  const expected = [
    [`${entry(U1, 0)}\\.route\\.cluster`, /app-z/],
    [`${entry(U3, 1)}\\.route\\.weighted_clusters\\.clusters\\[1\\]\\.name`, /app-b/],
    [`${vh}\\.on_no_match\\.action\\.typed_config\\.routes\\[0\\]\\.route\\.cluster`, /app-z/],
    [`${vh}\\.on_no_match\\.action\\.typed_config\\.routes\\[1\\]\\.route\\.weighted_clusters\\.clusters\\[1\\]\\.name`, /app-b/],
  ] as const;
  t.is(r.errors.length, expected.length, JSON.stringify(r.errors));
  expected.forEach(([path, message], i) => {
    t.regex(r.errors[i]?.path ?? '', new RegExp(`^${path}$`));
    t.regex(r.errors[i]?.message ?? '', message);
  });
});

test('validation: a matcher needs entries, and a virtual host has routes or a matcher, not both', (t) => {
  const base = build(input());
  const rc = structuredClone(routeConfigurationType.build(input([], [U1]))[0]) as any;
  const tree = rc.virtual_hosts[0].matcher.matcher_tree;
  tree.exact_match_map.map = Array.isArray(tree.exact_match_map.map) ? [] : {};
  rc.virtual_hosts[0].routes = rds(input()).virtual_hosts[0]!.routes;
  const r = Snapshot.fromResources({ CDS: base.resources('CDS'), EDS: base.resources('EDS'), RDS: [rc] });
  t.false(r.ok);
  if (!r.ok) {
    t.deepEqual(r.errors.map((e) => [e.code, e.path]).sort(), [
      ['CONFIG_INVALID', 'RDS[presencelb-routes].virtual_hosts[0].matcher'],
      ['CONFIG_INVALID', 'RDS[presencelb-routes].virtual_hosts[0].matcher.matcher_tree.exact_match_map.map'],
    ]);
  }
});

test('the RDS version changes when the off-path set changes, and only then', (t) => {
  const pins = [pin(U2, 'app-a')];
  const none = build(input(pins));
  const one = build(input(pins, [U1]));
  const two = build(input(pins, [U1, U3]));
  const twoAgain = build(input([pin(U2, 'app-a', 999)], [U3, U1]));
  t.not(one.typeVersion('RDS'), none.typeVersion('RDS'));
  t.not(two.typeVersion('RDS'), one.typeVersion('RDS'));
  t.is(twoAgain.typeVersion('RDS'), two.typeVersion('RDS'), 'the order of the set does not matter');
  t.is(twoAgain.version, two.version);
  for (const s of [one, two]) {
    t.is(s.typeVersion('CDS'), none.typeVersion('CDS'), 'clusters did not change');
    t.is(s.typeVersion('EDS'), none.typeVersion('EDS'), 'endpoints did not change');
  }
  const otherFilter = build(input(pins, [U1, U3], 'envoy.filters.http.ext_proc'));
  t.not(otherFilter.typeVersion('RDS'), two.typeVersion('RDS'), 'the filter name is part of the content');
  const pinnedNow = build(input([pin(U2, 'app-a'), pin(U1, 'app-b')], [U1, U3]));
  t.not(pinnedNow.typeVersion('RDS'), two.typeVersion('RDS'));
});

test('encode: entries encoded once each give exactly the bytes protobufjs gives for the whole object', (t) => {
  const [rc] = routeConfigurationType.build(input([pin(U2, 'app-a'), pin(U4, 'app-b')], [U1, U2, U3]));
  const plain = messageType('envoy.config.route.v3.RouteConfiguration');
  const expected = plain.encode(plain.fromObject(structuredClone(rc!))).finish();
  t.deepEqual(Buffer.from(routeConfigurationType.encode(rc!)), Buffer.from(expected));
  const [none] = routeConfigurationType.build(input([pin(U2, 'app-a')]));
  t.deepEqual(Buffer.from(routeConfigurationType.encode(none!)), Buffer.from(plain.encode(plain.fromObject(structuredClone(none!))).finish()), 'without a match tree too');
});
