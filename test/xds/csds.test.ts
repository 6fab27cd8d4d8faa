/**
 * CSDS on the xDS port: a grpc-js client of envoy.service.status.v3.ClientStatusDiscoveryService sees two real
 * Envoys, one on state-of-the-world ADS and one on delta, with the version each has ACKed of every resource (SYNCED,
 * ACKED, the resource attached), selects them by node matchers, and after a bad update sees each NACK: ERROR and
 * NACKED, the version each kept, the refused version and Envoy's message.
 */
import anyTest, { type TestFn } from 'ava';
import { credentials, status } from '@grpc/grpc-js';
import { messageType, serviceClient } from '../../src/protos/envoy.ts';
import { CSDS_SERVICE } from '../../src/xds/csds.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { typeUrlOfKind } from '../../src/xds/resource-types/index.ts';
import { startEnvoy, TRUSTED_HEADER_BOOTSTRAP, type EnvoyHandle } from '../harness/envoy.ts';
import { deltaVariant } from '../harness/envoy-delta.ts';
import { baseInput, countServers, startRig, USER_A, withBadRegex, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; delta: EnvoyHandle; client: any }>;

test.before(async (t) => {
  const rig = await startRig({ nodeId: 'envoy-sotw', bootstrap: TRUSTED_HEADER_BOOTSTRAP });
  const delta = await startEnvoy({ xdsPort: rig.xdsPort, nodeId: 'envoy-delta', bootstrap: deltaVariant(TRUSTED_HEADER_BOOTSTRAP) });
  const { snapshotVersion } = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) }).publishCurrent();
  await Promise.all([rig.envoy!.waitReady(), delta.waitReady()]);
  for (const nodeId of ['envoy-sotw', 'envoy-delta']) await rig.ads.waitForAck(snapshotVersion, { nodeId, timeoutMs: 5000 });
  const client = new (serviceClient(CSDS_SERVICE))(`127.0.0.1:${rig.xdsPort}`, credentials.createInsecure());
  t.context = { rig, delta, client };
});
test.after.always(async (t) => {
  t.context.client?.close();
  await t.context.delta?.stop();
  await t.context.rig?.close();
});

const fetchStatus = (client: any, req: object = {}): Promise<any> =>
  new Promise((resolve, reject) => client.FetchClientStatus(req, (err: Error | null, res: any) => (err ? reject(err) : resolve(res))));

/** byResource indexes a ClientConfig's generic_xds_configs by `KIND name`. */
function byResource(config: any): Record<string, any> {
  const kinds: Record<string, string> = { [typeUrlOfKind('CDS')]: 'CDS', [typeUrlOfKind('EDS')]: 'EDS', [typeUrlOfKind('RDS')]: 'RDS' };
  return Object.fromEntries(config.generic_xds_configs.map((g: any) => [`${kinds[g.type_url]} ${g.name}`, g]));
}

test.serial('FetchClientStatus: both Envoys, every resource SYNCED and ACKED at the version each protocol reports', async (t) => {
  const { rig, client } = t.context;
  const snap = rig.ads.current()!;
  const res = await fetchStatus(client);
  t.deepEqual(res.config.map((c: any) => [c.node.id, c.node.cluster]).sort(), [['envoy-delta', 'presencelb'], ['envoy-sotw', 'presencelb']]);
  for (const config of res.config) {
    const delta = config.node.id === 'envoy-delta';
    const r = byResource(config);
    t.deepEqual(Object.keys(r).sort(), ['CDS app-a', 'CDS app-b', 'EDS app-a', 'EDS app-b', 'RDS presencelb-routes']);
    for (const [key, g] of Object.entries(r)) {
      const [kind, name] = key.split(' ') as ['CDS' | 'EDS' | 'RDS', string];
      const expected = delta ? snap.slice(kind).resources.get(name)!.version : snap.typeVersion(kind);
      t.like(g, { version_info: expected, config_status: 'SYNCED', client_status: 'ACKED' }, `${config.node.id} ${key}`);
      t.truthy(g.last_updated?.seconds, 'ACK time');
      t.is(g.error_state, undefined);
    }
    const cluster = messageType('envoy.config.cluster.v3.Cluster').decode(r['CDS app-a'].xds_config.value) as any;
    t.is(cluster.name, 'app-a', 'the resource Envoy holds is attached');
  }
  // Over delta a one-resource type's version is its resource's: both Envoys report the same route version.
  const versions = res.config.map((c: any) => byResource(c)['RDS presencelb-routes'].version_info);
  t.is(versions[0], versions[1]);
});

test.serial('node matchers select Envoys; exclude_resource_contents leaves the resources out; metadata matchers are refused', async (t) => {
  const { client } = t.context;
  const ids = async (req: object) => ((await fetchStatus(client, req)).config ?? []).map((c: any) => c.node.id).sort();
  t.deepEqual(await ids({ node_matchers: [{ node_id: { exact: 'envoy-delta' } }] }), ['envoy-delta']);
  t.deepEqual(await ids({ node_matchers: [{ node_id: { prefix: 'envoy-' } }] }), ['envoy-delta', 'envoy-sotw']);
  t.deepEqual(await ids({ node_matchers: [{ node_id: { safe_regex: { regex: '.*-sotw' } } }, { node_id: { suffix: 'nope' } }] }), ['envoy-sotw']);
  t.deepEqual(await ids({ node_matchers: [{ node_id: { exact: 'envoy-9' } }] }), []);
  const bare = await fetchStatus(client, { exclude_resource_contents: true });
  t.true(bare.config.flatMap((c: any) => c.generic_xds_configs).every((g: any) => g.xds_config === undefined));
  const err = await t.throwsAsync(fetchStatus(client, { node_matchers: [{ node_metadatas: [{ path: [{ key: 'x' }], value: { present_match: true } }] }] }));
  t.is((err as any).code, status.INVALID_ARGUMENT);
  t.regex(err!.message, /node_matchers\[0\]\.node_metadatas/);
});

test.serial('after a bad update both Envoys NACK: ERROR, NACKED, the version kept, the refused version and the reason', async (t) => {
  const { rig, client, delta } = t.context;
  const good = rig.ads.current()!;
  const bad = withBadRegex(good);
  rig.ads.publish(bad);
  for (const nodeId of ['envoy-sotw', 'envoy-delta']) t.like(await rig.ads.waitForAck(bad.version, { nodeId, timeoutMs: 5000 }), { status: 'nacked', kind: 'RDS' });

  const res = await fetchStatus(client);
  for (const config of res.config) {
    const r = byResource(config);
    const rds = r['RDS presencelb-routes'];
    t.like(rds, { version_info: good.typeVersion('RDS'), config_status: 'ERROR', client_status: 'NACKED' }, config.node.id);
    t.is(rds.error_state.version_info, bad.typeVersion('RDS'));
    t.regex(rds.error_state.details, /unclosed|missing \)/);
    t.truthy(rds.error_state.last_update_attempt.seconds);
    const failed = messageType('envoy.config.route.v3.RouteConfiguration').decode(rds.error_state.failed_configuration.value) as any;
    t.is(failed.virtual_hosts[0].routes[0].name, 'bad', 'the refused configuration is attached');
    t.is(rds.xds_config, undefined, 'presencelb no longer has the version Envoy kept');
    t.like(r['CDS app-a'], { config_status: 'SYNCED', client_status: 'ACKED' }, 'clusters are unaffected');
  }
  // Both keep serving the previous routes.
  for (const envoy of [rig.envoy!, delta]) {
    const spread = await countServers(envoy.listenerUrl, 20, USER_A);
    t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  }
});

test.serial('StreamClientStatus answers each request with the current status', async (t) => {
  const { client } = t.context;
  const call = client.StreamClientStatus();
  const answers: any[] = [];
  call.on('data', (r: any) => answers.push(r));
  const ended = new Promise((resolve) => call.on('end', resolve));
  call.write({ node_matchers: [{ node_id: { exact: 'envoy-delta' } }] });
  call.write({});
  call.end();
  await ended;
  t.deepEqual(answers.map((a) => a.config.length), [1, 2]);
  t.is(answers[0].config[0].node.id, 'envoy-delta');
});
