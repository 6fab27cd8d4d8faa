/** clientStatus (CSDS answers) from stream states, without gRPC: each config_status and client_status, and matchers. */
import test from 'ava';
import { clientStatus, type CsdsSource } from '../../src/xds/csds.ts';
import { DeltaStream } from '../../src/xds/delta-stream.ts';
import { AdsStream } from '../../src/xds/ads-stream.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { typeUrlOfKind, type XdsKind } from '../../src/xds/resource-types/index.ts';
import type { EnvoyStatus, XdsStreamView } from '../../src/xds/ads-types.ts';

const built = Snapshot.build({
  appServers: [{ name: 'app-a', host: '127.0.0.1', port: 8081 }],
  routeConfigName: 'presencelb-routes',
  virtualHostDomains: ['*'],
  identityHeader: 'x-user-id',
  pins: [],
});
if (!built.ok) throw new Error('bad snapshot');
const S = built.value;
const never = () => false;
const opts = { now: () => 5000, controlPlaneId: 'test' };

const statusOf = (id: string, s: XdsStreamView): EnvoyStatus => ({ nodeId: id, cluster: 'c', connected: true, streams: 1, protocol: s.protocol, firstSeenAt: 0, lastSeenAt: 0, appliedVersion: null, types: s.status() });
const source = (snapshot: Snapshot | null, ...envoys: EnvoyStatus[]): CsdsSource => ({ envoys: () => envoys, current: () => snapshot });
/** brief renders a node's entries as `KIND name: config_status/client_status@version_info`. */
function brief(src: CsdsSource, req = {}): string[] {
  const r = clientStatus(req, src);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const kinds = new Map((['CDS', 'EDS', 'RDS'] as XdsKind[]).map((k) => [typeUrlOfKind(k), k]));
  return r.value.config.flatMap((c) => c.generic_xds_configs.map((g) => `${kinds.get(g.type_url)} ${g.name}: ${g.config_status}/${g.client_status}@${g.version_info.slice(0, 4)}`));
}
const v = (kind: XdsKind, name: string) => S.slice(kind).resources.get(name)!.version.slice(0, 4);

test('delta: held (NOT_SENT/REQUESTED), sent (STALE), ACKed (SYNCED/ACKED, with the resource), refused (ERROR/NACKED)', (t) => {
  const s = new DeltaStream(1, opts);
  s.onRequest({ type_url: typeUrlOfKind('RDS'), node: { id: 'n' }, resource_names_subscribe: ['presencelb-routes'] }, null, never);
  t.deepEqual(brief(source(null, statusOf('n', s))), ['RDS presencelb-routes: NOT_SENT/REQUESTED@']);
  const [rds] = s.onSnapshot(S, never);
  t.deepEqual(brief(source(S, statusOf('n', s))), ['RDS presencelb-routes: STALE/REQUESTED@']);
  s.onRequest({ type_url: typeUrlOfKind('RDS'), response_nonce: rds!.message.nonce }, S, never);
  const synced = clientStatus({}, source(S, statusOf('n', s)));
  t.like(synced.ok && synced.value.config[0]!.generic_xds_configs[0], { config_status: 'SYNCED', client_status: 'ACKED', last_updated: { seconds: 5, nanos: 0 } });
  t.truthy(synced.ok && synced.value.config[0]!.generic_xds_configs[0]!.xds_config);

  const [eds] = s.onRequest({ type_url: typeUrlOfKind('EDS'), resource_names_subscribe: ['app-a', 'app-z'] }, S, never).responses;
  s.onRequest({ type_url: typeUrlOfKind('EDS'), response_nonce: eds!.message.nonce, error_detail: { message: 'no' } }, S, never);
  t.deepEqual(brief(source(S, statusOf('n', s))), [
    'EDS app-a: ERROR/NACKED@',
    'EDS app-z: ERROR/NACKED@',
    `RDS presencelb-routes: SYNCED/ACKED@${v('RDS', 'presencelb-routes')}`,
  ]);
  const r = clientStatus({ exclude_resource_contents: true }, source(S, statusOf('n', s)));
  const refused = r.ok ? r.value.config[0]!.generic_xds_configs[0]! : undefined;
  t.like(refused?.error_state, { details: 'no', version_info: S.slice('EDS').resources.get('app-a')!.version, last_update_attempt: { seconds: 5 } });
  t.is(refused?.error_state?.failed_configuration, undefined, 'contents excluded');
  t.is(refused?.xds_config, undefined);
});

test('delta: a name asked for that the snapshot lacks is DOES_NOT_EXIST once Envoy has been told', (t) => {
  const s = new DeltaStream(1, opts);
  const [eds] = s.onRequest({ type_url: typeUrlOfKind('EDS'), node: { id: 'n' }, resource_names_subscribe: ['app-z'] }, S, never).responses;
  s.onRequest({ type_url: typeUrlOfKind('EDS'), response_nonce: eds!.message.nonce }, S, never);
  t.deepEqual(brief(source(S, statusOf('n', s))), ['EDS app-z: NOT_SENT/DOES_NOT_EXIST@']);
});

test('state of the world: one version per type for every resource of the response', (t) => {
  const s = new AdsStream(1, opts);
  const [cds] = s.onRequest({ type_url: typeUrlOfKind('CDS'), node: { id: 'w' } }, S, never).responses;
  t.deepEqual(brief(source(S, statusOf('w', s))), ['CDS app-a: STALE/REQUESTED@']);
  s.onRequest({ type_url: typeUrlOfKind('CDS'), version_info: cds!.message.version_info, response_nonce: cds!.message.nonce }, S, never);
  t.deepEqual(brief(source(S, statusOf('w', s))), [`CDS app-a: SYNCED/ACKED@${S.typeVersion('CDS').slice(0, 4)}`]);
});

test('node matchers: exact, prefix, suffix, contains, ignore_case, safe_regex; bad ones are refused with their path', (t) => {
  const s = new AdsStream(1, opts);
  s.onRequest({ type_url: typeUrlOfKind('CDS'), node: { id: 'Envoy-7' } }, null, never);
  const src = source(S, statusOf('Envoy-7', s), statusOf('other', new AdsStream(2, opts)));
  const ids = (req: object) => {
    const r = clientStatus(req, src);
    return r.ok ? r.value.config.map((c) => c.node.id) : r.errors.map((e) => e.path);
  };
  t.deepEqual(ids({}), ['Envoy-7', 'other']);
  t.deepEqual(ids({ node_matchers: [{ node_id: { exact: 'envoy-7', ignore_case: true } }] }), ['Envoy-7']);
  t.deepEqual(ids({ node_matchers: [{ node_id: { prefix: 'Env' } }, { node_id: { suffix: 'her' } }] }), ['Envoy-7', 'other']);
  t.deepEqual(ids({ node_matchers: [{ node_id: { contains: 'voy' } }] }), ['Envoy-7']);
  t.deepEqual(ids({ node_matchers: [{ node_id: { safe_regex: { regex: 'Envoy-[0-9]' } } }] }), ['Envoy-7']);
  t.deepEqual(ids({ node_matchers: [{ node_id: { safe_regex: { regex: 'Envoy' } } }] }), [], 'a regex matches the whole id');
  t.deepEqual(ids({ node_matchers: [{ node_id: { safe_regex: { regex: '(' } } }, { node_metadatas: [{}] }] }), ['node_matchers[0].node_id.safe_regex.regex', 'node_matchers[1].node_metadatas']);
});
