/**
 * Over delta xDS, a route configuration Envoy rejects but that encodes fine (a header matcher with an invalid RE2
 * regex) is NACKed: the NACK, its error_detail and the refused resource version are recorded, the refused version is
 * sent once and not again, and Envoy keeps serving the previous configuration until a good snapshot arrives.
 */
import anyTest, { type TestFn } from 'ava';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { TRUSTED_HEADER_BOOTSTRAP } from '../harness/envoy.ts';
import { deltaVariant } from '../harness/envoy-delta.ts';
import { baseInput, countServers, dynamicRouteEntry, pinOf, sendsSince, startRig, USER_A, withBadRegex, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; pub: XdsRoutePublisher }>;
const NODE = 'envoy-delta-nack';

test.before(async (t) => {
  const rig = await startRig({ nodeId: NODE, bootstrap: deltaVariant(TRUSTED_HEADER_BOOTSTRAP) });
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  const { snapshotVersion } = pub.publishCurrent();
  await rig.envoy!.waitReady();
  await rig.ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 });
  t.context = { rig, pub };
});
test.after.always(async (t) => t.context.rig?.close());

test.serial('Envoy NACKs the bad route configuration over delta; presencelb records it, does not resend it; Envoy keeps the old one', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  const good = rig.ads.current()!;
  const bad = withBadRegex(good);
  const badVersion = bad.slice('RDS').resources.get('presencelb-routes')!.version;
  const from = rig.events.length;

  rig.ads.publish(bad);
  const outcome = await rig.ads.waitForAck(bad.version, { nodeId: NODE, timeoutMs: 5000 });
  t.is(outcome.status, 'nacked');
  if (outcome.status !== 'nacked') return;
  t.is(outcome.kind, 'RDS');
  t.is(outcome.nack.version, bad.typeVersion('RDS'));
  t.deepEqual(outcome.nack.resources, [{ name: 'presencelb-routes', version: badVersion }]);
  t.is(outcome.nack.code, 13, 'Envoy reports INTERNAL');
  t.log('error_detail:', outcome.nack.message);
  t.regex(outcome.nack.message, /regex|unclosed|missing \)/i, outcome.nack.message);

  const [me] = rig.ads.envoys();
  const rds = me!.types.find((x) => x.kind === 'RDS')!;
  t.like(rds, { protocol: 'delta', sentVersion: bad.typeVersion('RDS'), ackedVersion: good.typeVersion('RDS') });
  t.like(rds.resources[0], { name: 'presencelb-routes', ackedVersion: good.typeVersion('RDS'), pendingVersion: null, nack: { version: bad.typeVersion('RDS') } });
  t.deepEqual(rds.lastNack, outcome.nack);

  // No NACK loop: over the next 1.5 s the bad version has been sent once and refused once; nothing else was sent.
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(sendsSince(rig.events, from), ['RDS +1 -0']);
  t.is(rig.events.filter((e) => e.type === 'nack').length, 1);
  const stats = await envoy.stats('rds\\.presencelb-routes');
  t.is(stats['http.app.rds.presencelb-routes.update_rejected'], 1);
  t.is(stats['http.app.rds.presencelb-routes.version_text'], good.typeVersion('RDS'));

  // Envoy still serves the previous configuration.
  const entry = await dynamicRouteEntry(envoy);
  t.is(entry?.version_info, good.typeVersion('RDS'));
  t.deepEqual(entry?.route_config.virtual_hosts[0].routes.map((r: any) => r.name), ['default']);
  const spread = await countServers(envoy.listenerUrl, 30, USER_A);
  t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  t.is(me!.appliedVersion, good.version);
});

test.serial('the next good snapshot is sent, accepted and takes effect; the refusal stays on record', async (t) => {
  const { rig, pub } = t.context;
  const from = rig.events.length;
  const { version, snapshotVersion } = await pub.pin(pinOf(USER_A, 'app-b'));
  t.like(await rig.ads.waitForAck(snapshotVersion, { nodeId: NODE, timeoutMs: 5000 }), { status: 'acked' });
  t.deepEqual(sendsSince(rig.events, from), ['RDS +1 -0']);
  t.deepEqual(await countServers(rig.envoy!.listenerUrl, 20, USER_A), { 'app-b': 20 });
  const rds = rig.ads.envoys()[0]!.types.find((x) => x.kind === 'RDS')!;
  t.like(rds, { ackedVersion: version });
  t.is(rds.resources[0]!.nack, null, 'accepted: the resource has no standing NACK');
  t.not(rds.lastNack, null, 'the last NACK stays on record');
});
