/**
 * extProc.offPath with a trusted gateway's identity header (envoy/envoy-trusted-header.yaml, identity.source header):
 * the header is on the request before any HTTP filter runs, so the route Envoy picks first is the user's, and
 * presencelb disables ext_proc there with a route.v3.FilterConfig, which keeps the filter out of the request's chain
 * (with a JWT the route is picked again after jwt_authn, and ExtProcPerRoute is used: off-path.test.ts). A granted
 * user's requests then start no ext_proc stream, their flows come from the access log, and after a teardown the
 * user's next request goes through ext_proc again.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';
import { heldAgainAfterTeardown, offPathRoute } from './_off-path.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'header', extProc: { accessLogLagMs: 1500, offPath: { enabled: true, publishMs: 100 } }, xds: { pins: 'routes' } });
});
test.after.always(async () => {
  await rig?.stop();
});

/** extProcStreams is Envoy's count of ext_proc streams started, over the bootstrap's filter chains. */
async function extProcStreams(): Promise<number> {
  const s = await rig.envoy.stats('ext_proc\\.streams_started$');
  return Object.values(s).reduce((n: number, v) => n + Number(v), 0);
}

test.serial('a granted user’s route leaves ext_proc out of the filter chain: no ext_proc stream, flows from the access log, held again after teardown', async (t) => {
  const user = randomUUID();
  const device = await rig.device(user);
  const s0 = await extProcStreams();
  t.is((await rig.get('/hello', { as: user })).status, 200);
  t.is(await extProcStreams(), s0 + 1, 'the first request went through ext_proc');
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const route = await waitFor('the user’s off-path route in Envoy', () => offPathRoute(rig, user), 10000);
  t.deepEqual(route.typed_per_filter_config?.['envoy.filters.http.ext_proc'], { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', disabled: true });

  const s1 = await extProcStreams();
  for (let i = 0; i < 3; i++) t.is((await rig.get(`/r${i}`, { as: user })).status, 200);
  // Long enough that its 1 s periodic entry is stored well before its end, on a loaded machine too.
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=5`, { headers: { 'x-user-id': user } });
  await waitFor('the stream opened by its periodic entry', async () => (await rig.flowsOf(user)).some((f: any) => f.ended_at === null), 4500);
  await res.text();
  const flows = await waitFor('five flows, all ended', async () => {
    const f = await rig.flowsOf(user);
    return (await rig.streamsOf(user)) === 5 && f.every((x: any) => x.ended_at !== null) ? f : null;
  }, 10000);
  t.is(await extProcStreams(), s1, 'no ext_proc stream for an off-path user');
  t.true(flows.every((f: any) => f.end_reason === 'completed' && f.app_server), 'each flow ended completed, with its server');

  await heldAgainAfterTeardown(t, rig, user, device, extProcStreams);
});
