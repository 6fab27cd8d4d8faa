/** AdsStream: the state-of-the-world protocol rules, without gRPC (fast, table-like). The real Envoy tests follow. */
import test from 'ava';
import { AdsStream, type Outgoing } from '../../src/xds/ads-stream.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { typeUrlOfKind } from '../../src/xds/resource-types/index.ts';
import type { XdsKind } from '../../src/xds/resource-types/index.ts';
import type { DiscoveryRequest } from '../../src/xds/ads-types.ts';
import type { UserId } from '../../src/core/user-id.ts';

const U1 = '11111111-1111-4111-8111-111111111111' as UserId;
const base = {
  appServers: [
    { name: 'app-a', host: '127.0.0.1', port: 8081 },
    { name: 'app-b', host: '127.0.0.1', port: 8082 },
  ],
  routeConfigName: 'presencelb-routes',
  virtualHostDomains: ['*'],
  identityHeader: 'x-user-id',
};
const snap = (pins: { user: UserId; appServer: string }[] = []): Snapshot => {
  const r = Snapshot.build({ ...base, pins: pins.map((p) => ({ ...p, createdAt: 0, expiresAt: 1 })) });
  if (!r.ok) throw new Error('bad snapshot');
  return r.value;
};
const S0 = snap();
const S1 = snap([{ user: U1, appServer: 'app-b' }]);
const never = () => false;
const node = { id: 'envoy-1', cluster: 'presencelb' };
const req = (kind: XdsKind, fields: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({ type_url: typeUrlOfKind(kind), ...fields });
const newStream = () => new AdsStream(1, { now: () => 1000, controlPlaneId: 'test' });
const summary = (out: Outgoing[]) => out.map((o) => `${o.kind}@${o.message.version_info}:${o.message.resources.length}`);

/** subscribeAll brings a stream to the steady state Envoy reaches: CDS wildcard, EDS and RDS named, all ACKed. */
function subscribeAll(s: AdsStream, snapshot: Snapshot) {
  const cds = s.onRequest(req('CDS', { node }), snapshot, never).responses[0]!.message;
  s.onRequest(req('CDS', { version_info: cds.version_info, response_nonce: cds.nonce }), snapshot, never);
  const eds = s.onRequest(req('EDS', { resource_names: ['app-a', 'app-b'] }), snapshot, never).responses[0]!.message;
  s.onRequest(req('EDS', { version_info: eds.version_info, response_nonce: eds.nonce, resource_names: ['app-a', 'app-b'] }), snapshot, never);
  const rds = s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), snapshot, never).responses[0]!.message;
  s.onRequest(req('RDS', { version_info: rds.version_info, response_nonce: rds.nonce, resource_names: ['presencelb-routes'] }), snapshot, never);
}

test('requests are held until the first snapshot, then answered in push order', (t) => {
  const s = newStream();
  t.deepEqual(s.onRequest(req('CDS', { node }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('EDS', { resource_names: ['app-a'] }), null, never).responses, []);
  t.deepEqual(s.node, node);
  t.deepEqual(summary(s.onSnapshot(S0, never)), [`CDS@${S0.typeVersion('CDS')}:2`, `EDS@${S0.typeVersion('EDS')}:1`, `RDS@${S0.typeVersion('RDS')}:1`]);
});

test('wildcard CDS gets every cluster; named EDS gets only the names asked for; empty named list gets nothing', (t) => {
  const s = newStream();
  const cds = s.onRequest(req('CDS'), S0, never).responses;
  t.deepEqual(summary(cds), [`CDS@${S0.typeVersion('CDS')}:2`]);
  t.is(cds[0]!.message.resources[0]!.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  t.deepEqual(summary(s.onRequest(req('EDS', { resource_names: ['app-b', 'app-unknown'] }), S0, never).responses), [`EDS@${S0.typeVersion('EDS')}:1`]);
  t.deepEqual(s.onRequest(req('RDS', { resource_names: [] }), S0, never).responses, []);
  t.false(s.isSubscribed('RDS'));
});

test('an ACK is recorded and not answered; a subscription change is answered', (t) => {
  const s = newStream();
  const cds = s.onRequest(req('CDS'), S0, never).responses[0]!.message;
  const ack = s.onRequest(req('CDS', { version_info: cds.version_info, response_nonce: cds.nonce }), S0, never);
  t.deepEqual(ack.outcome, { type: 'ack', kind: 'CDS', version: S0.typeVersion('CDS') });
  t.deepEqual(ack.responses, []);
  t.is(s.ackedVersion('CDS'), S0.typeVersion('CDS'));
  const eds = s.onRequest(req('EDS', { resource_names: ['app-a'] }), S0, never).responses[0]!.message;
  const more = s.onRequest(req('EDS', { version_info: eds.version_info, response_nonce: eds.nonce, resource_names: ['app-a', 'app-b'] }), S0, never);
  t.is(more.outcome.type, 'ack');
  t.deepEqual(summary(more.responses), [`EDS@${S0.typeVersion('EDS')}:2`]);
  t.not(more.responses[0]!.message.nonce, eds.nonce);
});

test('a NACK is recorded and the refused version is not sent again; a new version is', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const [push] = s.onSnapshot(S1, never);
  t.is(push!.kind, 'RDS');
  const nack = s.onRequest(
    req('RDS', { version_info: S0.typeVersion('RDS'), response_nonce: push!.message.nonce, resource_names: ['presencelb-routes'], error_detail: { code: 13, message: 'bad route' } }),
    S1,
    never,
  );
  t.like(nack.outcome, { type: 'nack', kind: 'RDS', nack: { version: S1.typeVersion('RDS'), message: 'bad route', code: 13, at: 1000 } });
  t.deepEqual(nack.responses, [], 'the NACKed version is not resent');
  t.is(s.ackedVersion('RDS'), S0.typeVersion('RDS'), 'Envoy kept the previous version');
  t.like(s.status().find((x) => x.kind === 'RDS'), { sentVersion: S1.typeVersion('RDS'), ackedVersion: S0.typeVersion('RDS'), lastNack: { message: 'bad route' } });
  // Envoy repeating its request (same nonce) still gets nothing.
  t.deepEqual(s.onRequest(req('RDS', { version_info: S0.typeVersion('RDS'), response_nonce: push!.message.nonce, resource_names: ['presencelb-routes'] }), S1, never).responses, []);
  // Going back to S0's content is a new response (Envoy already has it, but the stream last sent S1).
  t.deepEqual(summary(s.onSnapshot(S0, never)), [`RDS@${S0.typeVersion('RDS')}:1`]);
});

test('a request with a stale nonce is ignored', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const [push] = s.onSnapshot(S1, never);
  const stale = s.onRequest(req('RDS', { version_info: S0.typeVersion('RDS'), response_nonce: 'old', resource_names: ['other'] }), S1, never);
  t.deepEqual(stale.outcome, { type: 'stale', kind: 'RDS', nonce: 'old' });
  t.deepEqual(stale.responses, []);
  t.is(s.status().find((x) => x.kind === 'RDS')!.sentVersion, S1.typeVersion('RDS'));
  t.truthy(push);
});

test('a new snapshot pushes only the types whose version changed, clusters before routes', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  t.deepEqual(summary(s.onSnapshot(S1, never)), [`RDS@${S1.typeVersion('RDS')}:1`]);
  const moved = Snapshot.build({ ...base, appServers: [{ name: 'app-a', host: '127.0.0.1', port: 9000 }, { name: 'app-c', host: '127.0.0.1', port: 9001 }], pins: [] });
  if (!moved.ok) return t.fail();
  t.deepEqual(summary(s.onSnapshot(moved.value, never)).map((x) => x.split('@')[0]), ['CDS', 'EDS', 'RDS']);
});

test('on a new stream, a version this node NACKed before is not offered while Envoy holds a config', (t) => {
  const rejected = (kind: XdsKind, v: string) => kind === 'RDS' && v === S1.typeVersion('RDS');
  const reconnect = newStream();
  t.deepEqual(reconnect.onRequest(req('RDS', { version_info: S0.typeVersion('RDS'), resource_names: ['presencelb-routes'] }), S1, rejected).responses, []);
  const fresh = newStream();
  t.deepEqual(summary(fresh.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), S1, rejected).responses), [`RDS@${S1.typeVersion('RDS')}:1`]);
});

test('unknown type URLs are ignored', (t) => {
  const s = newStream();
  const r = s.onRequest({ type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' }, S0, never);
  t.deepEqual(r.outcome, { type: 'unknown_type', typeUrl: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' });
  t.deepEqual(r.responses, []);
});
