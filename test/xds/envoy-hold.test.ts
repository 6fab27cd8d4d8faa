/**
 * Envoy started before presencelb: first its xDS port is closed, then the server listens without a snapshot and
 * holds Envoy's requests (Envoy gets nothing, stays initialising), then the first publish lets it converge.
 */
import test from 'ava';
import { AdsServer } from '../../src/xds/ads-server.ts';
import type { AdsEvent } from '../../src/xds/ads-types.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { startAppServers } from '../harness/app-server.ts';
import { startEnvoy } from '../harness/envoy.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { baseInput, countServers, dynamicClusterNames, testLogger } from './_fixture.ts';

test('an Envoy that connects before the first snapshot gets nothing until publish, then converges', async (t) => {
  const apps = await startAppServers(['app-a', 'app-b']);
  const xdsPort = await freePort();
  const envoy = await startEnvoy({ xdsPort, nodeId: 'envoy-early' });
  const events: AdsEvent[] = [];
  const ads = new AdsServer({ logger: testLogger(), onEvent: (e) => events.push(e) });
  try {
    // Nobody listens on the xDS port yet.
    await new Promise((r) => setTimeout(r, 800));
    t.is((await envoy.stats('control_plane.connected_state'))['control_plane.connected_state'], 0);

    t.is(await ads.start(`127.0.0.1:${xdsPort}`), xdsPort);
    await waitFor('Envoy to connect and ask for clusters', () => ads.envoys()[0]?.types.some((x) => x.kind === 'CDS'), 15000);
    await new Promise((r) => setTimeout(r, 1000));
    t.deepEqual(events.filter((e) => e.type === 'send'), [], 'requests are held');
    const held = ads.envoys()[0]!;
    t.like(held, { nodeId: 'envoy-early', connected: true, appliedVersion: null });
    t.like(held.types[0], { kind: 'CDS', subscribed: '*', sentVersion: null, ackedVersion: null });
    t.deepEqual(await dynamicClusterNames(envoy), []);
    t.is((await fetch(`${envoy.adminUrl}/ready`)).status, 503, 'Envoy is still initialising');

    const pub = new XdsRoutePublisher({ sink: ads, base: baseInput(apps) });
    const { snapshotVersion: version } = pub.publishCurrent();
    await envoy.waitReady();
    t.is((await ads.waitForAck(version, { nodeId: 'envoy-early', timeoutMs: 5000 })).status, 'acked');
    t.deepEqual(await dynamicClusterNames(envoy), ['app-a', 'app-b']);
    const spread = await countServers(envoy.listenerUrl, 20);
    t.true((spread['app-a'] ?? 0) > 0 && (spread['app-b'] ?? 0) > 0, JSON.stringify(spread));
    t.deepEqual(events.filter((e) => e.type === 'send').map((e) => (e.type === 'send' ? e.kind : '')), ['CDS', 'EDS', 'RDS']);
  } finally {
    await envoy.stop();
    await ads.stop();
    await Promise.all(apps.map((a) => a.close()));
  }
});
