/**
 * extProc.offPath with real Envoy (envoy/envoy.yaml, JWT identity, xds.pins routes, accessLogLagMs 1500): a new
 * user's first request goes through ext_proc, which holds it until register and notify are done. Once the user is
 * granted at once, presencelb's route table takes the user off ext_proc (a match tree on the identity header, with
 * ext_proc disabled for that route): Envoy starts no ext_proc stream for the user's requests, and the access log
 * reports their flows, a long-lived stream as open until it ends. When the user is torn down, the route goes, and
 * the user's next request goes through ext_proc again and is held for register and notify. A reconnect pins an
 * off-path user to the server it was using, by the same route.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';
import { heldAgainAfterTeardown, offPathRoute as offPathRouteOf } from './_off-path.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', extProc: { accessLogLagMs: 1500, offPath: { enabled: true, publishMs: 100 } }, xds: { pins: 'routes' } });
});
test.after.always(async () => {
  await rig?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = (user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });

/** extProcStreams is Envoy's count of ext_proc streams started on the application listener. */
async function extProcStreams(): Promise<number> {
  const s = await rig.envoy.stats('^http\\.app\\.ext_proc\\.streams_started$');
  return Number(s['http.app.ext_proc.streams_started'] ?? 0);
}

const offPathRoute = (user: string): Promise<any> => offPathRouteOf(rig, user);

test.serial('a granted user is taken off ext_proc: no ext_proc stream, flows from the access log; after teardown the next request is held for register again', async (t) => {
  const user = randomUUID();
  const device = await rig.device(user);
  const s0 = await extProcStreams();
  const first = await rig.get('/hello', { as: user });
  t.is(first.status, 200);
  const ev = await waitFor('the grant logged', () => (rig.plb.events(user).includes('provide_access') ? rig.plb.events(user) : null), 5000);
  t.true(ev.indexOf('register') >= 0 && ev.indexOf('notify') > ev.indexOf('register') && ev.indexOf('provide_access') > ev.indexOf('notify'), `held for register and notify: ${ev.join(',')}`);
  t.is(await extProcStreams(), s0 + 1, 'the first request went through ext_proc');
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const route = await waitFor('the user’s off-path route in Envoy', () => offPathRoute(user), 10000);
  // The filter's own per-route config: a FilterConfig is read only when the chain is made, before jwt_authn has set
  // the identity header and Envoy has picked this route (off-path-header.test.ts has the trusted header's case).
  t.deepEqual(route.typed_per_filter_config?.['envoy.filters.http.ext_proc'], { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', disabled: true }, 'ext_proc disabled on the route');

  const s1 = await extProcStreams();
  for (let i = 0; i < 3; i++) t.is((await rig.get(`/r${i}`, { as: user })).status, 200);
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=3`, { headers: auth(user) });
  await waitFor('the stream opened by its periodic entry', async () => (await rig.flowsOf(user)).some((f: any) => f.ended_at === null), 4000);
  await res.text();
  const flows = await waitFor('five flows, all ended', async () => {
    const f = await rig.flowsOf(user);
    return (await rig.streamsOf(user)) === 5 && f.every((x: any) => x.ended_at !== null) ? f : null;
  }, 8000);
  t.is(await extProcStreams(), s1, 'no ext_proc stream for an off-path user');
  t.true(flows.every((f: any) => f.end_reason === 'completed' && f.app_server), 'each flow ended completed, with its server');
  const stream = flows.at(-1);
  t.true(stream.ended_at - stream.started_at > 2900, `the stream counted open for ${stream.ended_at - stream.started_at} ms`);

  // Presence gone, no flow in use: teardown; the route goes, and a new request is held for register again.
  await heldAgainAfterTeardown(t, rig, user, device, extProcStreams);
});

test.serial('a NOTIFY during an off-path stream reconnects the user, and the pin goes into the user’s off-path route', async (t) => {
  const user = randomUUID();
  const device = await rig.device(user);
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  await waitFor('the baseline NOTIFY', () => rig.plb.events(user).includes('receive_notification'));
  await waitFor('the user’s off-path route in Envoy', () => offPathRoute(user), 10000);
  await sleep(1500);
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=4`, { headers: auth(user) });
  const server = res.headers.get('x-app-server');
  await sleep(200);
  await device.publish('closed', 'went offline');
  const identify = await rig.plb.waitForEvent(user, 'identify', 10000);
  t.is(identify.branch, 'reconnect', String(identify.reason));
  await rig.plb.waitForEvent(user, 'reconnect_message', 10000);
  t.deepEqual(rig.plb.events(user).slice(-2), ['route_update', 'reconnect_message'], 'the route update went out, then the MESSAGE');
  const pinned = await waitFor('the pin in the off-path route', async () => {
    const r = await offPathRoute(user);
    return r?.route?.cluster ? r : null;
  }, 10000);
  t.is(pinned.route.cluster, server);
  t.truthy(pinned.typed_per_filter_config?.['envoy.filters.http.ext_proc'], 'still off ext_proc');
  for (let i = 0; i < 4; i++) t.is((await rig.get(`/p${i}`, { as: user })).headers.get('x-app-server'), server);
  await res.text();
});

test.serial('a client naming an off-path user in x-user-id does not get that user’s route: its request still goes through ext_proc', async (t) => {
  const victim = randomUUID();
  t.is((await rig.get('/hello', { as: victim })).status, 200);
  await rig.plb.waitForEvent(victim, 'subscribe', 10000);
  await waitFor('the victim’s off-path route in Envoy', () => offPathRoute(victim), 10000);
  // A valid token without sub (jwt_authn then adds no identity header and does not choose the route again), and the
  // victim's UUID in the identity header: Envoy must drop that header before it chooses a route.
  const s0 = await extProcStreams();
  const noSub = await fetch(`${rig.envoy.listenerUrl}/forged`, { headers: { authorization: `Bearer ${rig.token({})}`, 'x-user-id': victim } });
  t.is(noSub.status, 400, await noSub.text());
  t.is(await extProcStreams(), s0 + 1, 'ext_proc saw it (and refused it: no identity)');
  // And with the attacker's own token: the attacker's identity, through ext_proc, not the victim's route.
  const attacker = randomUUID();
  const own = await fetch(`${rig.envoy.listenerUrl}/forged`, { headers: { authorization: `Bearer ${rig.token({ sub: attacker })}`, 'x-user-id': victim } });
  t.is(own.status, 200);
  t.is(((await own.json()) as { user: string }).user, attacker);
  t.is(await extProcStreams(), s0 + 2, 'a new user: held by ext_proc for register and notify');
});
