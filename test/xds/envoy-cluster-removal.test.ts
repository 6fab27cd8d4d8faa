/**
 * Make before break over state-of-the-world ADS with a real Envoy: while requests run through the default route
 * (weighted over app-a and app-b), a snapshot drops app-b, five times over (app-b comes back between removals,
 * without traffic). Every request must succeed: Envoy first gets the clusters with app-b kept (an intermediate CDS
 * version), then the routes without it, and the final CDS without app-b only once it has ACKed those routes. Envoy
 * ends without app-b.
 *
 * Measured with the previous ordering (every type pushed at once, CDS in full first, so app-b went while the routes
 * Envoy held still sent about a quarter of the requests there): 10 of 1,817, 11 of 2,735 and 6 of 2,636 requests
 * failed (503, no body: cluster not found) in three runs of this test; with this ordering none in any run.
 *
 * Traffic runs only around the removals here; envoy-cluster-addition.test.ts runs it across the re-adds too (the
 * routes naming a re-added server wait until Envoy has ACKed its endpoints).
 */
import anyTest, { type TestFn } from 'ava';
import { waitFor } from '../harness/ports.ts';
import { dynamicClusterNames, sendsSince, snapshotOf, startRig, trafficLoad, type Rig } from './_fixture.ts';

const test = anyTest as TestFn<{ rig: Rig }>;

const CYCLES = 5;
const WORKERS = 8;

test.before(async (t) => {
  t.context = { rig: await startRig() };
});
test.after.always(async (t) => t.context.rig?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('dropping an application server under load fails no request; Envoy ends without its cluster', async (t) => {
  const { rig } = t.context;
  const envoy = rig.envoy!;
  const both = snapshotOf(rig.apps);
  const onlyA = snapshotOf(rig.apps.filter((a) => a.name === 'app-a'));
  const tally: Record<string, number> = {};
  const failures: string[] = [];
  let removalSends: string[] = [];
  let cdsVersions: string[] = [];
  rig.ads.publish(both);
  await envoy.waitReady();
  for (let i = 0; i < CYCLES; i++) {
    if (i > 0) rig.ads.publish(both);
    t.is((await rig.ads.waitForAck(both.version, { timeoutMs: 5000 })).status, 'acked', `cycle ${i}: app-b in`);
    await waitFor('app-b active in Envoy', async () => (await dynamicClusterNames(envoy)).includes('app-b'));
    // Traffic runs only around the removal (the re-adds are envoy-cluster-addition.test.ts's).
    await sleep(200);
    const traffic = trafficLoad(envoy.listenerUrl, WORKERS, tally, failures, { current: `removal ${i}` });
    await sleep(200);
    const from = rig.events.length;
    rig.ads.publish(onlyA);
    t.is((await rig.ads.waitForAck(onlyA.version, { timeoutMs: 5000 })).status, 'acked', `cycle ${i}: removal applied`);
    removalSends = sendsSince(rig.events, from);
    cdsVersions = rig.events.slice(from).flatMap((e) => (e.type === 'send' && e.kind === 'CDS' ? [e.version] : []));
    await sleep(300);
    await traffic.stop();
  }

  const total = Object.values(tally).reduce((a, b) => a + b, 0);
  t.log(`${total} requests over ${CYCLES} removals: ${JSON.stringify(tally)}`);
  t.true((tally['app-b'] ?? 0) > 0 && (tally['app-a'] ?? 0) > 0, JSON.stringify(tally));
  // As in envoy-cluster-addition.test.ts: the ordering's property is no_cluster staying 0 (strict); other failed
  // answers, seen once in the full suite on a loaded machine, are logged and tolerated up to 2.
  const noCluster = await envoy.stats('no_cluster');
  t.true(Object.keys(noCluster).length > 0, 'Envoy reports its no_cluster counters');
  t.true(Object.values(noCluster).every((n) => n === 0), `no request was routed to a cluster Envoy lacked: ${JSON.stringify(noCluster)}`);
  if (failures.length > 0) t.log(`failed requests: ${failures.slice(0, 5).join('; ')}`);
  t.true(failures.length <= 2, `${failures.length} of ${total} requests failed: ${failures.slice(0, 5).join('; ')}`);
  t.deepEqual(await dynamicClusterNames(envoy), ['app-a']);
  t.deepEqual(removalSends, ['CDS +2 -0', 'EDS +2 -0', 'RDS +1 -0', 'CDS +1 -0', 'EDS +1 -0'], 'app-b kept in CDS and EDS until the routes are ACKed');
  t.regex(cdsVersions[0]!, new RegExp(`^${onlyA.typeVersion('CDS')}\\+stale-[0-9a-f]{16}$`));
  t.is(cdsVersions[1], onlyA.typeVersion('CDS'));
});
