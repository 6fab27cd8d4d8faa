/** AdsStream: the state-of-the-world protocol rules, without gRPC (fast, table-like). The real Envoy tests follow. */
import test from 'ava';
import { AdsStream, type Outgoing } from '../../src/xds/ads-stream.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { typeUrlOfKind } from '../../src/xds/resource-types/index.ts';
import type { XdsKind } from '../../src/xds/resource-types/index.ts';
import type { DiscoveryRequest } from '../../src/xds/ads-types.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { EnvoyRegistry } from '../../src/xds/envoy-registry.ts';
import { clientStatus } from '../../src/xds/csds.ts';

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

test('requests are held until the first snapshot, then answered in push order; routes once their clusters are warm', (t) => {
  const s = newStream();
  t.deepEqual(s.onRequest(req('CDS', { node }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), null, never).responses, []);
  t.deepEqual(s.onRequest(req('EDS', { resource_names: ['app-a'] }), null, never).responses, []);
  t.deepEqual(s.node, node);
  const [cds, eds] = s.onSnapshot(S0, never);
  t.deepEqual(summary([cds!, eds!]), [`CDS@${S0.typeVersion('CDS')}:2`, `EDS@${S0.typeVersion('EDS')}:1`], 'the routes wait: Envoy holds no cluster yet');
  t.deepEqual(s.onRequest(req('CDS', { version_info: cds!.message.version_info, response_nonce: cds!.message.nonce }), S0, never).responses, []);
  const [both] = s.onRequest(req('EDS', { version_info: eds!.message.version_info, response_nonce: eds!.message.nonce, resource_names: ['app-a', 'app-b'] }), S0, never).responses;
  t.deepEqual(summary([both!]), [`EDS@${S0.typeVersion('EDS')}:2`]);
  t.deepEqual(summary(s.onRequest(req('EDS', { version_info: both!.message.version_info, response_nonce: both!.message.nonce, resource_names: ['app-a', 'app-b'] }), S0, never).responses), [`RDS@${S0.typeVersion('RDS')}:1`]);
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
  t.deepEqual(summary(s.onSnapshot(moved.value, never)).map((x) => x.split('@')[0]), ['CDS', 'EDS'], 'the routes wait for app-c to warm (below)');
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

// Make before break when a snapshot drops a cluster Envoy holds (app-b): kept in CDS and EDS until the routes are ACKed.
const onlyA = (() => {
  const r = Snapshot.build({ ...base, appServers: [base.appServers[0]!], pins: [] });
  if (!r.ok) throw new Error('bad snapshot');
  return r.value;
})();
const onlyAPinned = (() => {
  const r = Snapshot.build({ ...base, appServers: [base.appServers[0]!], pins: [{ user: U1, appServer: 'app-a', createdAt: 0, expiresAt: 1 }] });
  if (!r.ok) throw new Error('bad snapshot');
  return r.value;
})();
const STALE = /^[0-9a-f]{16}\+stale-[0-9a-f]{16}$/;
const NAMES: Partial<Record<XdsKind, string[]>> = { EDS: ['app-a', 'app-b'], RDS: ['presencelb-routes'] };
/** answer ACKs (or, with error, NACKs) one response, as Envoy would with the names it asks for. */
const answer = (s: AdsStream, o: Outgoing, snapshot: Snapshot, opts: { names?: string[]; error?: string; kept?: string } = {}) =>
  s.onRequest(
    req(o.kind, {
      version_info: opts.error ? (opts.kept ?? '') : o.message.version_info,
      response_nonce: o.message.nonce,
      resource_names: opts.names ?? NAMES[o.kind] ?? [],
      ...(opts.error ? { error_detail: { code: 13, message: opts.error } } : {}),
    }),
    snapshot,
    never,
  ).responses;
const byKind = (out: Outgoing[], kind: XdsKind) => out.find((o) => o.kind === kind)!;
const carries = (o: Outgoing, snapshot: Snapshot, name: string) =>
  o.message.resources.some((r) => r.value === snapshot.slice(o.kind).resources.get(name)?.value);

test('a dropped cluster is kept (intermediate CDS and EDS versions) until the routes are ACKed, then removed', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const out = s.onSnapshot(onlyA, never);
  t.deepEqual(out.map((o) => o.kind), ['CDS', 'EDS', 'RDS']);
  const [cds, eds, rds] = out as [Outgoing, Outgoing, Outgoing];
  t.regex(cds.message.version_info, STALE);
  t.true(cds.message.version_info.startsWith(`${onlyA.typeVersion('CDS')}+stale-`));
  t.is(cds.message.resources.length, 2);
  t.true(carries(cds, S0, 'app-b'), 'the stale cluster as Envoy holds it');
  t.true(eds.message.version_info.startsWith(`${onlyA.typeVersion('EDS')}+stale-`));
  t.true(carries(eds, S0, 'app-b'), 'its assignment still served');
  t.is(rds.message.version_info, onlyA.typeVersion('RDS'));

  t.deepEqual(answer(s, cds, onlyA), [], 'the intermediate CDS ACK releases nothing');
  t.deepEqual(answer(s, eds, onlyA), []);
  t.is(s.ackedVersion('CDS'), cds.message.version_info, 'the ACKed CDS version is the intermediate one');
  const final = answer(s, rds, onlyA);
  t.deepEqual(summary(final), [`CDS@${onlyA.typeVersion('CDS')}:1`, `EDS@${onlyA.typeVersion('EDS')}:1`]);
  t.false(carries(byKind(final, 'CDS'), S0, 'app-b'));

  t.deepEqual(answer(s, byKind(final, 'CDS'), onlyA), []);
  t.is(s.ackedVersion('CDS'), onlyA.typeVersion('CDS'));
  // Envoy drops the cluster, then its assignment: nothing more to send.
  t.deepEqual(answer(s, byKind(final, 'EDS'), onlyA, { names: ['app-a'] }), []);
  t.deepEqual(s.onRequest(req('CDS', { version_info: onlyA.typeVersion('CDS'), response_nonce: byKind(final, 'CDS').message.nonce }), onlyA, never).responses, []);
  t.deepEqual(s.onSnapshot(onlyA, never), []);
});

test('with a removal drain, the final CDS and EDS go once the drain has passed since the routes were ACKed, and dueAt says when', (t) => {
  let now = 1000;
  const s = new AdsStream(1, { now: () => now, controlPlaneId: 'test', removalDrainMs: 1000 });
  subscribeAll(s, S0);
  const [cds, eds, rds] = s.onSnapshot(onlyA, never) as [Outgoing, Outgoing, Outgoing];
  answer(s, cds, onlyA);
  answer(s, eds, onlyA);
  t.is(s.dueAt(), null, 'nothing waits while the routes are in flight');
  now = 1500;
  t.deepEqual(answer(s, rds, onlyA), [], 'app-b stays while requests that picked the old routes drain');
  t.is(s.dueAt(), 2500);
  now = 2499;
  t.deepEqual(s.onSnapshot(onlyA, never), [], 'not before the drain has passed');
  now = 2500;
  const final = s.onSnapshot(onlyA, never);
  t.deepEqual(summary(final), [`CDS@${onlyA.typeVersion('CDS')}:1`, `EDS@${onlyA.typeVersion('EDS')}:1`]);
  t.false(carries(byKind(final, 'CDS'), S0, 'app-b'));
  t.is(s.dueAt(), null);
  t.deepEqual(s.onSnapshot(onlyA, never), [], 'sent once');
});

test('the intermediate version is deterministic and no snapshot’s', (t) => {
  const versions = [newStream(), newStream()].map((s) => {
    subscribeAll(s, S0);
    return s.onSnapshot(onlyA, never)[0]!.message.version_info;
  });
  t.is(versions[0], versions[1]);
  t.not(versions[0], onlyA.typeVersion('CDS'));
  t.not(versions[0], S0.typeVersion('CDS'));
});

test('without LDS or RDS subscribed, the final CDS goes out at once', (t) => {
  const s = newStream();
  const cds = s.onRequest(req('CDS', { node }), S0, never).responses[0]!;
  answer(s, cds, S0);
  const eds = s.onRequest(req('EDS', { resource_names: ['app-a', 'app-b'] }), S0, never).responses[0]!;
  answer(s, eds, S0);
  t.deepEqual(summary(s.onSnapshot(onlyA, never)), [`CDS@${onlyA.typeVersion('CDS')}:1`, `EDS@${onlyA.typeVersion('EDS')}:1`]);
});

test('a cluster dropped while its last CDS awaits ACK is kept too; one already sent removed is not brought back', (t) => {
  const s = newStream();
  answer(s, s.onRequest(req('CDS', { node }), onlyA, never).responses[0]!, onlyA);
  answer(s, s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), onlyA, never).responses[0]!, onlyA);
  // app-b added: its CDS goes out, the routes wait for it.
  const [cds, ...rest] = s.onSnapshot(S0, never);
  t.is(cds!.message.version_info, S0.typeVersion('CDS'));
  t.deepEqual(rest, []);
  // That CDS (with app-b) is not ACKed yet when app-b is dropped again: Envoy will hold app-b.
  const [mid, rds] = s.onSnapshot(onlyAPinned, never) as [Outgoing, Outgoing];
  t.regex(mid.message.version_info, STALE);
  t.true(carries(mid, S0, 'app-b'));
  t.is(rds.kind, 'RDS', 'routes to app-a only go at once');
  t.deepEqual(answer(s, cds!, onlyAPinned), [], 'a stale nonce');
  const [final] = answer(s, rds, onlyAPinned);
  t.is(final!.message.version_info, onlyAPinned.typeVersion('CDS'));
  // A new snapshot before that final CDS is ACKed: Envoy will hold app-a only, nothing is kept.
  t.deepEqual(summary(s.onSnapshot(onlyA, never)), [`RDS@${onlyA.typeVersion('RDS')}:1`]);
});

test('another snapshot while the cluster is kept is measured against what Envoy holds', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const first = s.onSnapshot(onlyA, never);
  const again = s.onSnapshot(onlyAPinned, never);
  t.deepEqual(again.map((o) => o.kind), ['RDS'], 'the intermediate CDS and EDS still hold: only the routes change');
  t.deepEqual(answer(s, byKind(first, 'RDS'), onlyAPinned), [], 'the superseded routes’ ACK is stale');
  t.deepEqual(summary(answer(s, again[0]!, onlyAPinned)), [`CDS@${onlyAPinned.typeVersion('CDS')}:1`, `EDS@${onlyAPinned.typeVersion('EDS')}:1`]);
  // app-b back before the removal completes: the snapshot's own CDS, nothing kept.
  const s2 = newStream();
  subscribeAll(s2, S0);
  s2.onSnapshot(onlyA, never);
  t.deepEqual(s2.onSnapshot(S1, never).map((o) => `${o.kind}@${o.message.version_info}`), [`CDS@${S1.typeVersion('CDS')}`, `EDS@${S1.typeVersion('EDS')}`, `RDS@${S1.typeVersion('RDS')}`]);
});

test('NACKs do not loop: refused routes keep the cluster; a refused intermediate or final CDS is not sent again', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const [cds, eds, rds] = s.onSnapshot(onlyA, never) as [Outgoing, Outgoing, Outgoing];
  t.deepEqual(answer(s, cds, onlyA, { error: 'no', kept: S0.typeVersion('CDS') }), [], 'refused intermediate: not resent');
  answer(s, eds, onlyA);
  t.deepEqual(answer(s, rds, onlyA, { error: 'bad route', kept: S0.typeVersion('RDS') }), [], 'refused routes: app-b stays');
  t.deepEqual(s.onRequest(req('RDS', { version_info: S0.typeVersion('RDS'), response_nonce: rds.message.nonce, resource_names: ['presencelb-routes'] }), onlyA, never).responses, []);
  t.deepEqual(s.onSnapshot(onlyA, never), []);
  // Routes that Envoy accepts release the final CDS once; refused too, it is not offered again.
  const [rds2] = s.onSnapshot(onlyAPinned, never);
  t.is(rds2!.kind, 'RDS');
  const [final] = answer(s, rds2!, onlyAPinned);
  t.is(final!.message.version_info, onlyAPinned.typeVersion('CDS'));
  t.deepEqual(answer(s, final!, onlyAPinned, { error: 'no', kept: S0.typeVersion('CDS') }), []);
  t.deepEqual(s.onRequest(req('CDS', { version_info: S0.typeVersion('CDS'), response_nonce: final!.message.nonce }), onlyAPinned, never).responses, []);
  t.deepEqual(s.onSnapshot(onlyAPinned, never), []);
});

test('the registry and CSDS report the snapshot applied and SYNCED only once the final CDS is ACKed', (t) => {
  const s = newStream();
  const registry = new EnvoyRegistry({ now: () => 1000, historySize: 8 });
  registry.published(S0);
  subscribeAll(s, S0);
  registry.bind(s);
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, S0.version);
  registry.published(onlyA);
  const csds = () => {
    const r = clientStatus({ exclude_resource_contents: true }, { envoys: () => registry.envoys(), current: () => onlyA });
    if (!r.ok) throw new Error('csds');
    return Object.fromEntries(r.value.config[0]!.generic_xds_configs.map((g) => [`${g.type_url.split('.').at(-1)} ${g.name}`, g.config_status]));
  };
  const [cds, eds, rds] = s.onSnapshot(onlyA, never) as [Outgoing, Outgoing, Outgoing];
  answer(s, cds, onlyA);
  answer(s, eds, onlyA);
  registry.settle(node);
  t.like(csds(), { 'Cluster app-a': 'NOT_SENT', 'Cluster app-b': 'NOT_SENT', 'RouteConfiguration presencelb-routes': 'STALE' }, 'Envoy holds the intermediate CDS: its removal is not sent yet');
  const final = answer(s, rds, onlyA);
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, S0.version, 'routes ACKed, the intermediate CDS and EDS too: not applied yet');
  t.like(csds(), { 'Cluster app-a': 'STALE', 'Cluster app-b': 'STALE', 'RouteConfiguration presencelb-routes': 'SYNCED' }, 'the final CDS (app-b removed) awaits ACK');
  for (const o of final) answer(s, o, onlyA, { names: ['app-a'] });
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, onlyA.version);
  t.deepEqual(csds(), { 'Cluster app-a': 'SYNCED', 'ClusterLoadAssignment app-a': 'SYNCED', 'RouteConfiguration presencelb-routes': 'SYNCED' });
});

// Make before break when a snapshot adds a cluster its routes use (app-b back, app-c new): the routes wait until
// Envoy has ACKed the cluster and then its assignment, which it asks for only once it has the cluster.
const aAndC = (() => {
  const r = Snapshot.build({ ...base, appServers: [base.appServers[0]!, { name: 'app-c', host: '127.0.0.1', port: 8083 }], pins: [] });
  if (!r.ok) throw new Error('bad snapshot');
  return r.value;
})();
/** steadyOnlyA brings a stream to Envoy's steady state on onlyA: CDS wildcard, EDS app-a, RDS, all ACKed. */
function steadyOnlyA(s: AdsStream) {
  answer(s, s.onRequest(req('CDS', { node }), onlyA, never).responses[0]!, onlyA);
  answer(s, s.onRequest(req('EDS', { resource_names: ['app-a'] }), onlyA, never).responses[0]!, onlyA, { names: ['app-a'] });
  answer(s, s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), onlyA, never).responses[0]!, onlyA);
}

test('an added cluster: CDS and EDS first, the routes once Envoy has ACKed its cluster and its assignment', (t) => {
  const s = newStream();
  const registry = new EnvoyRegistry({ now: () => 1000, historySize: 8 });
  registry.published(onlyA);
  steadyOnlyA(s);
  registry.bind(s);
  registry.settle(node);
  registry.published(S0);
  const csds = () => {
    const r = clientStatus({ exclude_resource_contents: true }, { envoys: () => registry.envoys(), current: () => S0 });
    if (!r.ok) throw new Error('csds');
    return Object.fromEntries(r.value.config[0]!.generic_xds_configs.map((g) => [`${g.type_url.split('.').at(-1)} ${g.name}`, g.config_status]));
  };
  const out = s.onSnapshot(S0, never);
  t.deepEqual(summary(out), [`CDS@${S0.typeVersion('CDS')}:2`, `EDS@${S0.typeVersion('EDS')}:1`], 'the routes are held');
  const [cds, eds] = out as [Outgoing, Outgoing];
  t.deepEqual(answer(s, cds, S0), [], 'Envoy holds app-b, still warming: nothing released');
  // Envoy answers the EDS response with the names it now wants, app-b's assignment among them.
  const [edsB] = answer(s, eds, S0, { names: ['app-a', 'app-b'] });
  t.deepEqual(summary([edsB!]), [`EDS@${S0.typeVersion('EDS')}:2`]);
  t.true(carries(edsB!, S0, 'app-b'));
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, onlyA.version, 'not applied while the routes are held');
  t.like(csds(), { 'Cluster app-b': 'SYNCED', 'ClusterLoadAssignment app-b': 'STALE', 'RouteConfiguration presencelb-routes': 'NOT_SENT' });
  const [rds, ...more] = answer(s, edsB!, S0);
  t.deepEqual(summary([rds!]), [`RDS@${S0.typeVersion('RDS')}:1`], 'the EDS ACK covering app-b releases the routes');
  t.deepEqual(more, []);
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, onlyA.version);
  t.like(csds(), { 'ClusterLoadAssignment app-b': 'SYNCED', 'RouteConfiguration presencelb-routes': 'STALE' });
  t.deepEqual(answer(s, rds!, S0), []);
  registry.settle(node);
  t.is(registry.envoys()[0]!.appliedVersion, S0.version);
  t.true(Object.values(csds()).every((v) => v === 'SYNCED'), JSON.stringify(csds()));
  t.deepEqual(s.onSnapshot(S0, never), []);
});

test('a stale-nonce EDS request naming the new assignment is ignored; the ACK with those names is answered', (t) => {
  const s = newStream();
  steadyOnlyA(s);
  const [cds, eds] = s.onSnapshot(S0, never) as [Outgoing, Outgoing];
  answer(s, cds, S0);
  // Sent before Envoy took the new EDS response: it echoes the previous nonce.
  t.deepEqual(s.onRequest(req('EDS', { version_info: onlyA.typeVersion('EDS'), response_nonce: '2', resource_names: ['app-a', 'app-b'] }), S0, never).outcome.type, 'stale');
  const [edsB] = answer(s, eds, S0, { names: ['app-a', 'app-b'] });
  t.deepEqual(summary(answer(s, edsB!, S0)), [`RDS@${S0.typeVersion('RDS')}:1`]);
});

test('adding and removing at once: added clusters first, then the routes, then the removal', (t) => {
  const s = newStream();
  subscribeAll(s, S0);
  const out = s.onSnapshot(aAndC, never);
  t.deepEqual(out.map((o) => o.kind), ['CDS', 'EDS'], 'the routes wait for app-c');
  const [cds, eds] = out as [Outgoing, Outgoing];
  t.regex(cds.message.version_info, STALE);
  t.deepEqual(cds.message.resources.length, 3, 'app-a, app-b kept, app-c added');
  t.true(carries(cds, aAndC, 'app-c') && carries(cds, S0, 'app-b'));
  t.deepEqual(answer(s, cds, aAndC), []);
  const [edsC] = answer(s, eds, aAndC, { names: ['app-a', 'app-b', 'app-c'] });
  t.regex(edsC!.message.version_info, STALE);
  t.is(edsC!.message.resources.length, 3, 'app-b’s assignment still served while its cluster is kept');
  const [rds, ...more] = answer(s, edsC!, aAndC, { names: ['app-a', 'app-b', 'app-c'] });
  t.deepEqual(summary([rds!]), [`RDS@${aAndC.typeVersion('RDS')}:1`]);
  t.deepEqual(more, []);
  const final = answer(s, rds!, aAndC);
  t.deepEqual(summary(final), [`CDS@${aAndC.typeVersion('CDS')}:2`, `EDS@${aAndC.typeVersion('EDS')}:2`], 'app-b removed last');
  t.false(carries(byKind(final, 'CDS'), S0, 'app-b'));
  answer(s, byKind(final, 'CDS'), aAndC);
  t.deepEqual(answer(s, byKind(final, 'EDS'), aAndC, { names: ['app-a', 'app-c'] }), []);
  t.is(s.ackedVersion('RDS'), aAndC.typeVersion('RDS'));
  t.is(s.ackedVersion('CDS'), aAndC.typeVersion('CDS'));
});

test('a NACKed CDS or EDS that adds a cluster releases no route to it, without a loop; a later snapshot recomputes', (t) => {
  const s = newStream();
  steadyOnlyA(s);
  const [cds, eds] = s.onSnapshot(S1, never) as [Outgoing, Outgoing];
  t.deepEqual(answer(s, cds, S1, { error: 'no', kept: onlyA.typeVersion('CDS') }), [], 'refused: nothing resent, routes held');
  t.deepEqual(answer(s, eds, S1, { names: ['app-a'] }), [], 'Envoy never asks for app-b');
  t.deepEqual(s.onRequest(req('CDS', { version_info: onlyA.typeVersion('CDS'), response_nonce: cds.message.nonce }), S1, never).responses, []);
  t.deepEqual(s.onSnapshot(S1, never), []);
  t.deepEqual(s.onSnapshot(S0, never), [], 'same refused clusters: still held');
  t.is(s.ackedVersion('RDS'), onlyA.typeVersion('RDS'), 'Envoy keeps its routes');
  // A later snapshot whose routes need only what Envoy holds goes out whole.
  t.deepEqual(
    s.onSnapshot(onlyAPinned, never).map((o) => `${o.kind}@${o.message.version_info}`),
    [`CDS@${onlyAPinned.typeVersion('CDS')}`, `EDS@${onlyAPinned.typeVersion('EDS')}`, `RDS@${onlyAPinned.typeVersion('RDS')}`],
  );

  // The assignment refused instead: the cluster stays warming in Envoy, the routes are not sent.
  const s2 = newStream();
  steadyOnlyA(s2);
  const [cds2, eds2] = s2.onSnapshot(S1, never) as [Outgoing, Outgoing];
  answer(s2, cds2, S1);
  const [edsB] = answer(s2, eds2, S1, { names: ['app-a', 'app-b'] });
  t.deepEqual(answer(s2, edsB!, S1, { names: ['app-a', 'app-b'], error: 'bad endpoints', kept: eds2.message.version_info }), []);
  t.deepEqual(s2.onRequest(req('EDS', { version_info: eds2.message.version_info, response_nonce: edsB!.message.nonce, resource_names: ['app-a', 'app-b'] }), S1, never).responses, []);
  t.deepEqual(s2.onSnapshot(S1, never), []);
  t.is(s2.ackedVersion('RDS'), onlyA.typeVersion('RDS'));
});

test('a snapshot arriving while routes are held is measured the same way: its routes go once the cluster is warm', (t) => {
  const s = newStream();
  steadyOnlyA(s);
  const [cds, eds] = s.onSnapshot(S0, never) as [Outgoing, Outgoing];
  t.deepEqual(s.onSnapshot(S1, never), [], 'same clusters and assignments; the new routes wait too');
  answer(s, cds, S1);
  const [edsB] = answer(s, eds, S1, { names: ['app-a', 'app-b'] });
  t.deepEqual(summary(answer(s, edsB!, S1)), [`RDS@${S1.typeVersion('RDS')}:1`], 'the latest routes, not the superseded ones');

  // The addition withdrawn while held: the routes Envoy holds never named app-b, so it goes at once.
  const s2 = newStream();
  steadyOnlyA(s2);
  const [cds2] = s2.onSnapshot(S0, never) as [Outgoing, Outgoing];
  t.deepEqual(summary(s2.onSnapshot(onlyA, never)), [`CDS@${onlyA.typeVersion('CDS')}:1`, `EDS@${onlyA.typeVersion('EDS')}:1`]);
  t.deepEqual(answer(s2, cds2, onlyA), [], 'a stale nonce');
  t.is(s2.ackedVersion('RDS'), onlyA.typeVersion('RDS'));
});

test('a stream without EDS waits only for the cluster’s ACK; without CDS it does not wait', (t) => {
  const s = newStream();
  answer(s, s.onRequest(req('CDS', { node }), onlyA, never).responses[0]!, onlyA);
  answer(s, s.onRequest(req('RDS', { resource_names: ['presencelb-routes'] }), onlyA, never).responses[0]!, onlyA);
  const [cds, ...rest] = s.onSnapshot(S0, never);
  t.deepEqual(rest, []);
  t.deepEqual(summary(answer(s, cds!, S0)), [`RDS@${S0.typeVersion('RDS')}:1`]);
  const r = newStream();
  answer(r, r.onRequest(req('RDS', { node, resource_names: ['presencelb-routes'] }), onlyA, never).responses[0]!, onlyA);
  t.deepEqual(summary(r.onSnapshot(S0, never)), [`RDS@${S0.typeVersion('RDS')}:1`]);
});
