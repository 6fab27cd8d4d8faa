/** DeltaStream: the incremental (delta) protocol rules, without gRPC. The real Envoy tests are envoy-delta*.test.ts. */
import test from 'ava';
import { DeltaStream, type DeltaOutgoing } from '../../src/xds/delta-stream.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { typeUrlOfKind, type XdsKind } from '../../src/xds/resource-types/index.ts';
import type { DeltaDiscoveryRequest, RejectedByNode } from '../../src/xds/ads-types.ts';
import type { UserId } from '../../src/core/user-id.ts';

const U1 = '11111111-1111-4111-8111-111111111111' as UserId;
const U2 = '22222222-2222-4222-8222-222222222222' as UserId;
const apps = (...names: string[]) => names.map((name, i) => ({ name, host: '127.0.0.1', port: 8081 + i }));
const snap = (pins: { user: UserId; appServer: string }[] = [], appServers = apps('app-a', 'app-b')): Snapshot => {
  const r = Snapshot.build({
    appServers,
    routeConfigName: 'presencelb-routes',
    virtualHostDomains: ['*'],
    identityHeader: 'x-user-id',
    pins: pins.map((p) => ({ ...p, createdAt: 0, expiresAt: 1 })),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};
const S0 = snap();
const S1 = snap([{ user: U1, appServer: 'app-b' }]);
const never: RejectedByNode = () => false;
const node = { id: 'envoy-1', cluster: 'presencelb' };
const req = (kind: XdsKind, fields: Partial<DeltaDiscoveryRequest> = {}): DeltaDiscoveryRequest => ({ type_url: typeUrlOfKind(kind), ...fields });
let clock = 1000;
const newStream = () => new DeltaStream(1, { now: () => clock, controlPlaneId: 'test' });
const rv = (s: Snapshot, kind: XdsKind, name: string) => s.slice(kind).resources.get(name)!.version;
/** summary renders responses as `KIND +name@version -name`, versions shortened to 4 characters. */
const summary = (out: DeltaOutgoing[]) =>
  out.map((o) => [o.kind, ...o.message.resources.map((r) => `+${r.name}@${r.version.slice(0, 4)}`), ...o.message.removed_resources.map((n) => `-${n}`)].join(' '));
const v4 = (s: Snapshot, kind: XdsKind, name: string) => rv(s, kind, name).slice(0, 4);
const ack = (s: DeltaStream, o: DeltaOutgoing, snapshot: Snapshot | null) => s.onRequest(req(o.kind, { response_nonce: o.message.nonce }), snapshot, never);

/** connect brings a stream to Envoy's steady state on snapshot: CDS wildcard, EDS and RDS by name, everything ACKed. */
function connect(s: DeltaStream, snapshot: Snapshot): void {
  for (const r of [req('CDS', { node }), req('EDS', { resource_names_subscribe: ['app-a', 'app-b'] }), req('RDS', { resource_names_subscribe: ['presencelb-routes'] })]) {
    for (const o of s.onRequest(r, snapshot, never).responses) ack(s, o, snapshot);
  }
}

test('requests are held until the first snapshot, then answered in push order with per-resource versions', (t) => {
  const s = newStream();
  t.deepEqual(s.onRequest(req('CDS', { node }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('RDS', { resource_names_subscribe: ['presencelb-routes'] }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('EDS', { resource_names_subscribe: ['app-a'] }), null, never).responses, []);
  t.deepEqual(s.node, node);
  t.is(s.ackedVersion('CDS'), null);
  const out = s.onSnapshot(S0, never);
  t.deepEqual(summary(out), [`CDS +app-a@${v4(S0, 'CDS', 'app-a')} +app-b@${v4(S0, 'CDS', 'app-b')}`, `EDS +app-a@${v4(S0, 'EDS', 'app-a')}`], 'the routes wait for warm clusters');
  const cds = out[0]!.message;
  t.is(cds.system_version_info, S0.typeVersion('CDS'));
  t.is(cds.type_url, typeUrlOfKind('CDS'));
  t.is(cds.resources[0]!.resource.type_url, typeUrlOfKind('CDS'));
  t.deepEqual(cds.control_plane, { identifier: 'test' });
  t.deepEqual(new Set(out.map((o) => o.message.nonce)).size, 2, 'every response has its own nonce');
  t.is(rv(S0, 'RDS', 'presencelb-routes'), S0.typeVersion('RDS'), 'a one-resource type has its resource’s version');
  t.deepEqual(ack(s, out[0]!, S0).responses, []);
  t.deepEqual(ack(s, out[1]!, S0).responses, [], 'app-b’s assignment is not held yet');
  const [edsB] = s.onRequest(req('EDS', { resource_names_subscribe: ['app-b'] }), S0, never).responses;
  t.deepEqual(summary(ack(s, edsB!, S0).responses), [`RDS +presencelb-routes@${v4(S0, 'RDS', 'presencelb-routes')}`]);
});

test('wildcard: an empty first CDS request or "*"; an empty first EDS request wants nothing', (t) => {
  const legacy = newStream();
  t.deepEqual(summary(legacy.onRequest(req('CDS'), S0, never).responses).map((x) => x.split(' ').length), [3]);
  const explicit = newStream();
  t.is(explicit.onRequest(req('CDS', { resource_names_subscribe: ['*'] }), S0, never).responses[0]!.message.resources.length, 2);
  t.is(explicit.status()[0]!.subscribed, '*');
  const named = newStream();
  t.deepEqual(summary(named.onRequest(req('CDS', { resource_names_subscribe: ['app-b'] }), S0, never).responses), [`CDS +app-b@${v4(S0, 'CDS', 'app-b')}`]);
  const eds = newStream();
  t.deepEqual(eds.onRequest(req('EDS'), S0, never).responses, []);
  t.false(eds.isSubscribed('EDS'));
});

test('an ACK is recorded and not answered; the type counts as applied once every resource is ACKed', (t) => {
  const s = newStream();
  const [cds] = s.onRequest(req('CDS', { node }), S0, never).responses;
  t.is(s.ackedVersion('CDS'), null, 'sent, not yet ACKed');
  t.like(s.status()[0]!.resources[0], { name: 'app-a', ackedVersion: null, pendingVersion: rv(S0, 'CDS', 'app-a') });
  clock = 2000;
  const r = ack(s, cds!, S0);
  t.deepEqual(r.outcome, { type: 'ack', kind: 'CDS', version: S0.typeVersion('CDS') });
  t.deepEqual(r.responses, []);
  t.is(s.ackedVersion('CDS'), S0.typeVersion('CDS'));
  t.like(s.status()[0], { protocol: 'delta', sentVersion: S0.typeVersion('CDS'), ackedVersion: S0.typeVersion('CDS'), ackedAt: 2000 });
  t.like(s.status()[0]!.resources[0], { name: 'app-a', ackedVersion: rv(S0, 'CDS', 'app-a'), ackedAt: 2000, pendingVersion: null, nack: null });
});

test('an ACK that arrives after a newer publish still counts: the type is applied at the version Envoy holds', (t) => {
  const s = newStream();
  const [rds0] = s.onRequest(req('RDS', { node, resource_names_subscribe: ['presencelb-routes'] }), S0, never).responses;
  const [rds1] = s.onSnapshot(S1, never);
  ack(s, rds0!, S1);
  t.is(s.ackedVersion('RDS'), S0.typeVersion('RDS'), 'Envoy holds S0’s routes while S1’s are on their way');
  s.onRequest(req('RDS', { response_nonce: rds1!.message.nonce, error_detail: { message: 'no' } }), S1, never);
  t.is(s.ackedVersion('RDS'), S0.typeVersion('RDS'), 'and keeps them after refusing S1’s');
});

test('a pin change sends only the changed RouteConfiguration', (t) => {
  const s = newStream();
  connect(s, S0);
  const out = s.onSnapshot(S1, never);
  t.deepEqual(summary(out), [`RDS +presencelb-routes@${v4(S1, 'RDS', 'presencelb-routes')}`]);
  t.is(out[0]!.message.system_version_info, S1.typeVersion('RDS'));
  ack(s, out[0]!, S1);
  for (const k of ['CDS', 'EDS', 'RDS'] as const) t.is(s.ackedVersion(k), S1.typeVersion(k));
});

test('a NACK is recorded; the refused version is not sent again on the stream; a new version is, and an old one Envoy holds is not', (t) => {
  const s = newStream();
  connect(s, S0);
  const [push] = s.onSnapshot(S1, never);
  clock = 3000;
  const nack = s.onRequest(req('RDS', { response_nonce: push!.message.nonce, error_detail: { code: 13, message: 'bad route' } }), S1, never);
  t.like(nack.outcome, { type: 'nack', kind: 'RDS', nack: { version: S1.typeVersion('RDS'), message: 'bad route', code: 13, at: 3000 } });
  if (nack.outcome.type !== 'nack') return;
  t.deepEqual(nack.outcome.nack.resources, [{ name: 'presencelb-routes', version: rv(S1, 'RDS', 'presencelb-routes') }]);
  t.deepEqual(nack.responses, [], 'the NACKed version is not resent');
  t.is(s.ackedVersion('RDS'), S0.typeVersion('RDS'), 'Envoy kept the previous version');
  t.like(s.status().find((x) => x.kind === 'RDS')!.resources[0], { ackedVersion: rv(S0, 'RDS', 'presencelb-routes'), pendingVersion: null, nack: { message: 'bad route' } });
  // A later request on the stream (a subscription change) does not bring it back.
  t.deepEqual(s.onRequest(req('RDS', { resource_names_subscribe: ['presencelb-routes'] }), S1, never).responses, []);
  // A new version is sent; going back to what Envoy holds sends nothing over delta.
  const S2 = snap([{ user: U2, appServer: 'app-a' }]);
  const [next] = s.onSnapshot(S2, never);
  t.deepEqual(summary([next!]), [`RDS +presencelb-routes@${v4(S2, 'RDS', 'presencelb-routes')}`]);
  ack(s, next!, S2);
  t.is(s.status().find((x) => x.kind === 'RDS')!.resources[0]!.nack, null, 'an accepted version clears the standing NACK');
  t.like(s.status().find((x) => x.kind === 'RDS')!.lastNack, { message: 'bad route' }, 'the last NACK stays on record');
  const s2 = newStream();
  connect(s2, S0);
  t.deepEqual(s2.onSnapshot(S0, never), [], 'same content: nothing to send');
});

test('initial_resource_versions: what Envoy holds at the current version is not resent; the rest is, stale clusters go last', (t) => {
  const s = newStream();
  const initialCds = { 'app-a': rv(S1, 'CDS', 'app-a'), 'app-b': rv(S1, 'CDS', 'app-b'), 'app-old': 'v-old' };
  t.deepEqual(s.onRequest(req('CDS', { node, initial_resource_versions: initialCds }), null, never).responses, [], 'held');
  t.deepEqual(s.onRequest(req('EDS', { resource_names_subscribe: ['app-a', 'app-b'], initial_resource_versions: { 'app-a': rv(S1, 'EDS', 'app-a'), 'app-b': rv(S1, 'EDS', 'app-b') } }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('RDS', { resource_names_subscribe: ['presencelb-routes'], initial_resource_versions: { 'presencelb-routes': rv(S0, 'RDS', 'presencelb-routes') } }), null, never).responses, []);
  const cdsHeld = s.status()[0]!;
  t.like(cdsHeld, { subscribed: '*', sentVersion: null, ackedVersion: null });
  t.deepEqual(cdsHeld.resources.map((r) => [r.name, r.ackedVersion]), Object.entries(initialCds));

  const out = s.onSnapshot(S1, never);
  t.deepEqual(summary(out), [`RDS +presencelb-routes@${v4(S1, 'RDS', 'presencelb-routes')}`], 'only the route changed; app-old waits for the routes');
  t.is(s.ackedVersion('EDS'), S1.typeVersion('EDS'), 'EDS held in full: applied without a send');
  t.is(s.ackedVersion('CDS'), null, 'app-old still to be removed');
  const after = ack(s, out[0]!, S1).responses;
  t.deepEqual(summary(after), ['CDS -app-old']);
  ack(s, after[0]!, S1);
  t.is(s.ackedVersion('CDS'), S1.typeVersion('CDS'));
  t.deepEqual(s.status()[0]!.resources.map((r) => r.name), ['app-a', 'app-b']);

  const same = newStream();
  same.onRequest(req('CDS', { node, initial_resource_versions: { 'app-a': rv(S1, 'CDS', 'app-a'), 'app-b': rv(S1, 'CDS', 'app-b') } }), null, never);
  same.onRequest(req('RDS', { resource_names_subscribe: ['presencelb-routes'], initial_resource_versions: { 'presencelb-routes': rv(S1, 'RDS', 'presencelb-routes') } }), null, never);
  t.deepEqual(same.onSnapshot(S1, never), [], 'an Envoy that holds everything gets nothing');
  t.is(same.ackedVersion('RDS'), S1.typeVersion('RDS'));

  // grpc-js decodes the proto map as a list of entries: the same request in that form.
  const entries = newStream();
  entries.onRequest(req('RDS', { node, resource_names_subscribe: ['presencelb-routes'], initial_resource_versions: [{ key: 'presencelb-routes', value: rv(S1, 'RDS', 'presencelb-routes') }] }), null, never);
  t.deepEqual(entries.onSnapshot(S1, never), []);
  t.is(entries.ackedVersion('RDS'), S1.typeVersion('RDS'));
});

test('make before break: new clusters and endpoints (ACKed), then routes; the removed cluster only after the routes are ACKed', (t) => {
  const s = newStream();
  connect(s, S0);
  const moved = snap([{ user: U1, appServer: 'app-c' }], apps('app-a', 'app-c'));
  const out = s.onSnapshot(moved, never);
  t.deepEqual(summary(out), [`CDS +app-c@${v4(moved, 'CDS', 'app-c')}`], 'the routes wait for app-c');
  // Envoy, having the cluster, asks for its endpoints; it also still asks for app-b's.
  t.deepEqual(ack(s, out[0]!, moved).responses, [], 'app-b is not removed while the routes are not ACKed');
  const eds = s.onRequest(req('EDS', { resource_names_subscribe: ['app-c'] }), moved, never).responses;
  t.deepEqual(summary(eds), [`EDS +app-c@${v4(moved, 'EDS', 'app-c')}`]);
  const routes = ack(s, eds[0]!, moved).responses;
  t.deepEqual(summary(routes), [`RDS +presencelb-routes@${v4(moved, 'RDS', 'presencelb-routes')}`], 'the ACK of app-c’s endpoints releases the routes');
  const afterRoutes = ack(s, routes[0]!, moved).responses;
  t.deepEqual(summary(afterRoutes), ['CDS -app-b', 'EDS -app-b']);
  // Envoy drops app-b's endpoints itself when the cluster goes.
  ack(s, afterRoutes[0]!, moved);
  s.onRequest(req('EDS', { response_nonce: afterRoutes[1]!.message.nonce, resource_names_unsubscribe: ['app-b'] }), moved, never);
  for (const k of ['CDS', 'EDS', 'RDS'] as const) t.is(s.ackedVersion(k), moved.typeVersion(k), k);
});

test('with a removal drain, the removed cluster goes once the drain has passed since the routes were ACKed, and dueAt says when', (t) => {
  const s = new DeltaStream(1, { now: () => clock, controlPlaneId: 'test', removalDrainMs: 1000 });
  connect(s, S0);
  const moved = snap([], apps('app-a'));
  const [routes] = s.onSnapshot(moved, never);
  t.deepEqual(summary([routes!]), [`RDS +presencelb-routes@${v4(moved, 'RDS', 'presencelb-routes')}`]);
  t.is(s.dueAt(), null, 'nothing waits while the routes are in flight');
  const ackedAt = clock;
  t.deepEqual(ack(s, routes!, moved).responses, [], 'app-b stays while requests that picked the old routes drain');
  t.is(s.dueAt(), ackedAt + 1000);
  clock += 999;
  t.deepEqual(s.onSnapshot(moved, never), [], 'not before the drain has passed');
  t.is(s.dueAt(), ackedAt + 1000);
  clock += 1;
  t.deepEqual(summary(s.onSnapshot(moved, never)), ['CDS -app-b', 'EDS -app-b']);
  t.is(s.dueAt(), null);
  t.deepEqual(s.onSnapshot(moved, never), [], 'sent once');
});

test('a refused route holds back the removal of the cluster it still uses', (t) => {
  const s = newStream();
  connect(s, S0);
  const moved = snap([], apps('app-a'));
  const out = s.onSnapshot(moved, never);
  t.deepEqual(summary(out), [`RDS +presencelb-routes@${v4(moved, 'RDS', 'presencelb-routes')}`]);
  const r = s.onRequest(req('RDS', { response_nonce: out[0]!.message.nonce, error_detail: { message: 'no' } }), moved, never);
  t.deepEqual(r.responses, [], 'app-b stays: the routes Envoy kept still name it');
  t.is(s.ackedVersion('CDS'), S0.typeVersion('CDS'));
});

test('unsubscribe forgets; subscribing again sends again; a name that does not exist is reported removed once', (t) => {
  const s = newStream();
  connect(s, S0);
  t.deepEqual(s.onRequest(req('EDS', { resource_names_unsubscribe: ['app-b'] }), S0, never).responses, []);
  t.deepEqual(s.status().find((x) => x.kind === 'EDS')!.subscribed, ['app-a']);
  t.deepEqual(summary(s.onRequest(req('EDS', { resource_names_subscribe: ['app-b'] }), S0, never).responses), [`EDS +app-b@${v4(S0, 'EDS', 'app-b')}`]);
  const missing = s.onRequest(req('EDS', { resource_names_subscribe: ['app-z'] }), S0, never).responses;
  t.deepEqual(summary(missing), ['EDS -app-z'], 'Envoy learns app-z does not exist');
  t.deepEqual(summary(s.onRequest(req('RDS', { resource_names_subscribe: ['other-routes'] }), S0, never).responses), ['RDS -other-routes']);
  t.deepEqual(s.onRequest(req('RDS'), S0, never).responses, [], 'reported once');
});

test('on a new stream, a version this node refused before is not offered while Envoy holds one; a fresh Envoy gets it once', (t) => {
  const bad = rv(S1, 'RDS', 'presencelb-routes');
  const rejected: RejectedByNode = (kind, version, name) => kind === 'RDS' && name === 'presencelb-routes' && version === bad;
  const reconnect = newStream();
  const held = reconnect.onRequest(req('RDS', { node, resource_names_subscribe: ['presencelb-routes'], initial_resource_versions: { 'presencelb-routes': rv(S0, 'RDS', 'presencelb-routes') } }), S1, rejected);
  t.deepEqual(held.responses, []);
  const fresh = newStream();
  const [once] = fresh.onRequest(req('RDS', { node, resource_names_subscribe: ['presencelb-routes'] }), S1, rejected).responses;
  t.truthy(once);
  fresh.onRequest(req('RDS', { response_nonce: once!.message.nonce, error_detail: { message: 'still no' } }), S1, rejected);
  t.deepEqual(fresh.onSnapshot(snap([{ user: U1, appServer: 'app-b' }]), rejected), []);
});

test('an unknown nonce takes no ACK from the request, but its subscription changes apply', (t) => {
  const s = newStream();
  connect(s, S0);
  const r = s.onRequest(req('EDS', { response_nonce: '999', resource_names_unsubscribe: ['app-a'] }), S0, never);
  t.deepEqual(r.outcome, { type: 'stale', kind: 'EDS', nonce: '999' });
  t.deepEqual(s.status().find((x) => x.kind === 'EDS')!.subscribed, ['app-b']);
  t.deepEqual(s.onRequest({ type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' }, S0, never).outcome, {
    type: 'unknown_type',
    typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  });
});

test('a refused cluster or assignment holds back the routes that need it, without a loop; a later snapshot goes out', (t) => {
  const onlyA = snap([], apps('app-a'));
  const connectA = (x: DeltaStream) => {
    for (const r of [req('CDS', { node }), req('EDS', { resource_names_subscribe: ['app-a'] }), req('RDS', { resource_names_subscribe: ['presencelb-routes'] })]) {
      for (const o of x.onRequest(r, onlyA, never).responses) ack(x, o, onlyA);
    }
  };
  const s = newStream();
  connectA(s);
  const [cds] = s.onSnapshot(S1, never);
  t.deepEqual(summary([cds!]), [`CDS +app-b@${v4(S1, 'CDS', 'app-b')}`]);
  t.deepEqual(s.onRequest(req('CDS', { response_nonce: cds!.message.nonce, error_detail: { message: 'no' } }), S1, never).responses, []);
  t.deepEqual(s.onSnapshot(S1, never), [], 'not resent, routes still held');
  const pinnedA = snap([{ user: U1, appServer: 'app-a' }], apps('app-a'));
  t.deepEqual(summary(s.onSnapshot(pinnedA, never)), [`RDS +presencelb-routes@${v4(pinnedA, 'RDS', 'presencelb-routes')}`]);
  // The cluster taken, its assignment refused: the routes to it still wait.
  const r = newStream();
  connectA(r);
  const [cdsB] = r.onSnapshot(S1, never);
  ack(r, cdsB!, S1);
  const [edsB] = r.onRequest(req('EDS', { resource_names_subscribe: ['app-b'] }), S1, never).responses;
  t.deepEqual(r.onRequest(req('EDS', { response_nonce: edsB!.message.nonce, error_detail: { message: 'bad endpoints' } }), S1, never).responses, []);
  t.deepEqual(r.onSnapshot(S1, never), []);
  t.is(r.ackedVersion('RDS'), onlyA.typeVersion('RDS'));
});
