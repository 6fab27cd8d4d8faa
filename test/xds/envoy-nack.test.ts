/**
 * A resource Envoy rejects but that encodes fine (a header matcher with an invalid RE2 regex) is NACKed: the NACK
 * and its error_detail are recorded, the refused version is sent once and not again, and Envoy keeps serving the
 * previous configuration until a good snapshot arrives.
 */
import anyTest, { type TestFn } from 'ava';
import { Snapshot } from '../../src/xds/snapshot.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import type { RouteConfigurationResource } from '../../src/xds/resource-types/route.ts';
import { waitFor } from '../harness/ports.ts';
import { baseInput, countServers, dynamicRouteConfig, pinOf, startRig, USER_A, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig; pub: XdsRoutePublisher }>;

test.before(async (t) => {
  const rig = await startRig({ nodeId: 'envoy-nack' });
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  pub.publishCurrent();
  await rig.envoy!.waitReady();
  t.context = { rig, pub };
});
test.after.always(async (t) => t.context.rig?.close());

/** withBadRegex derives a snapshot whose pin route matches the identity header against an invalid RE2 regex. */
function withBadRegex(good: Snapshot): Snapshot {
  const rc = structuredClone(good.resources('RDS')[0]) as RouteConfigurationResource & { virtual_hosts: { routes: any[] }[] };
  rc.virtual_hosts[0]!.routes.unshift({
    name: 'bad',
    match: { prefix: '/', headers: [{ name: 'x-user-id', string_match: { safe_regex: { regex: '(unclosed' } } }] },
    route: { cluster: 'app-b' },
  });
  const r = Snapshot.fromResources({ CDS: good.resources('CDS'), EDS: good.resources('EDS'), RDS: [rc] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

test.serial('Envoy NACKs the bad route configuration; presencelb records it, does not resend it, Envoy keeps the old one', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  const good = rig.ads.current()!;
  const bad = withBadRegex(good);
  t.is(bad.typeVersion('CDS'), good.typeVersion('CDS'));
  t.not(bad.typeVersion('RDS'), good.typeVersion('RDS'));

  rig.ads.publish(bad);
  const outcome = await rig.ads.waitForAck(bad.version, { nodeId: 'envoy-nack', timeoutMs: 5000 });
  t.is(outcome.status, 'nacked');
  if (outcome.status !== 'nacked') return;
  t.is(outcome.kind, 'RDS');
  t.is(outcome.nack.version, bad.typeVersion('RDS'));
  t.log('error_detail:', outcome.nack.message);
  t.regex(outcome.nack.message, /regex|unclosed|missing \)/i, outcome.nack.message);

  const rds = rig.ads.envoys()[0]!.types.find((x) => x.kind === 'RDS')!;
  t.is(rds.sentVersion, bad.typeVersion('RDS'));
  t.is(rds.ackedVersion, good.typeVersion('RDS'), 'Envoy reported the version it kept');
  t.deepEqual(rds.lastNack, outcome.nack);
  t.true(rig.events.some((e) => e.type === 'nack' && e.kind === 'RDS' && e.nack.version === bad.typeVersion('RDS')));

  // No NACK loop: over the next 1.5 s the bad version has been sent exactly once and Envoy rejected it exactly once.
  await new Promise((r) => setTimeout(r, 1500));
  const sendsOfBad = rig.events.filter((e) => e.type === 'send' && e.kind === 'RDS' && e.version === bad.typeVersion('RDS'));
  t.is(sendsOfBad.length, 1);
  t.is(rig.events.filter((e) => e.type === 'nack').length, 1);
  const stats = await envoy.stats('rds\\.presencelb-routes');
  t.is(stats['http.app.rds.presencelb-routes.update_rejected'], 1);
  t.is(stats['http.app.rds.presencelb-routes.version_text'], good.typeVersion('RDS'));

  // Envoy still serves the previous configuration.
  const rc = await dynamicRouteConfig(envoy);
  t.deepEqual(rc.virtual_hosts[0].routes.map((r: any) => r.name), ['default']);
  const spread = await countServers(envoy.listenerUrl, 30, USER_A);
  t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
  t.is(rig.ads.envoys()[0]!.appliedVersion, good.version);
});

test.serial('the next good snapshot is accepted and takes effect', async (t) => {
  const { rig, pub } = t.context;
  const { snapshotVersion: version } = await pub.pin(pinOf(USER_A, 'app-b'));
  const outcome = await rig.ads.waitForAck(version, { nodeId: 'envoy-nack', timeoutMs: 5000 });
  t.is(outcome.status, 'acked');
  t.deepEqual(await countServers(rig.envoy!.listenerUrl, 20, USER_A), { 'app-b': 20 });
  const rds = rig.ads.envoys()[0]!.types.find((x) => x.kind === 'RDS')!;
  t.is(rds.ackedVersion, rig.ads.current()!.typeVersion('RDS'));
  t.not(rds.lastNack, null, 'the last NACK stays on record');
});
