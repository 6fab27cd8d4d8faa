/**
 * Access-log mode (envoy/envoy-access-log.yaml, identity.source jwt, xds.pins routes, extProc.accessLogLagMs 1500):
 * no ext_proc at all; presencelb learns every flow from Envoy's access log. A short request is recorded whole when
 * it ends, a stream still open after 1 s is opened by Envoy's periodic entry and closed by its final one, an aborted
 * request ends stream_error; a NOTIFY sent while a stream Envoy has not yet reported was open still finds it (the
 * decision waits accessLogLagMs), so the user is reconnected, not purged. No flow is left open after each test.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { ACCESS_LOG_BOOTSTRAP } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', bootstrap: ACCESS_LOG_BOOTSTRAP, extProc: { accessLogLagMs: 1500 }, xds: { pins: 'routes' } });
});
test.after.always(async () => {
  await rig?.stop();
});

const auth = (user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** noneOpen waits until presencelb reports no open flow and has recorded at least `flows` flows in all. */
async function noneOpen(flows: number): Promise<void> {
  await waitFor(`no open flow after ${flows} flows (last: ${JSON.stringify(rig.counts())})`, () => {
    const c = rig.counts();
    return c !== null && c.flowsTotal >= flows && c.openFlows === 0 && c.openStreams === 0;
  }, 10000);
}

test.serial('a request is recorded whole when it ends; a 3 s stream is open from its periodic entry until it ends; an abort ends stream_error', async (t) => {
  const user = randomUUID();
  const t0 = Date.now();
  const r = await rig.get('/hello', { as: user });
  t.is(r.status, 200);
  t.is(r.body.user, user);
  // presencelb heard of the user only from the access log, after the request: the claim's steps follow.
  const register = await rig.plb.waitForEvent(user, 'register', 10000);
  t.true(Date.parse(register.time as string) >= t0);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const [first] = await waitFor('the first flow', async () => {
    const f = await rig.flowsOf(user);
    return f.length === 1 && f[0].ended_at !== null ? f : null;
  });
  t.is(first.end_reason, 'completed');
  t.true(first.started_at >= t0 - 5 && first.started_at <= first.ended_at, 'started at the entry’s start time');
  t.truthy(first.app_server, 'the upstream that served it');

  const startedAt = Date.now();
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=3`, { headers: auth(user) });
  await sleep(600);
  t.is((await rig.flowsOf(user)).length, 1, 'not reported yet: Envoy logs a stream still open after 1 s');
  await waitFor('the stream’s periodic entry', async () => (await rig.flowsOf(user)).some((f: any) => f.ended_at === null), 3000);
  const open = (await rig.flowsOf(user)).find((f: any) => f.ended_at === null);
  t.true(Math.abs(open.started_at - startedAt) < 500, 'opened with the stream’s start time, not the entry’s');
  await waitFor('presencelb to count the open flow', () => rig.counts()?.openFlows === 1, 2000);
  await res.text();
  const ended = await waitFor('the stream’s flow ended', async () => (await rig.flowsOf(user)).find((f: any) => f.id === open.id && f.ended_at !== null));
  t.is(ended.end_reason, 'completed');
  t.true(ended.ended_at - ended.started_at > 2900, `lasted ${ended.ended_at - ended.started_at} ms`);
  t.is((await rig.flowsOf(user)).length, 2, 'one flow for the stream, however many periodic entries');

  const ac = new AbortController();
  const pending = fetch(`${rig.envoy.listenerUrl}/slow?delay_ms=4000`, { headers: auth(user), signal: ac.signal });
  await waitFor('the slow request’s flow', async () => (await rig.flowsOf(user)).length === 3, 4000);
  ac.abort();
  t.is((await pending.then(() => null, (e: unknown) => e as Error))?.name, 'AbortError');
  await waitFor('the aborted flow ended', async () => (await rig.flowsOf(user)).some((f: any) => f.end_reason === 'stream_error'));
  t.deepEqual((await rig.flowsOf(user)).map((f: any) => f.end_reason), ['completed', 'completed', 'stream_error']);
  await noneOpen(3);
});

test.serial('a NOTIFY sent while a stream not yet reported was open: the decision waits for the access log and reconnects the user', async (t) => {
  const user = randomUUID();
  const device = await rig.device(user);
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  await waitFor('the baseline NOTIFY', () => rig.plb.events(user).includes('receive_notification'));
  await sleep(1500); // past graceMs (1 s): the first request no longer counts as in use
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=4`, { headers: auth(user) });
  t.is(res.status, 200);
  await sleep(200);
  t.is((await rig.flowsOf(user)).filter((f: any) => f.ended_at === null).length, 0, 'Envoy has not reported the stream yet');
  await device.publish('closed', 'went offline');
  const identify = await rig.plb.waitForEvent(user, 'identify', 10000);
  t.is(identify.branch, 'reconnect', String(identify.reason));
  await rig.plb.waitForEvent(user, 'reconnect_message', 10000);
  t.false(rig.plb.events(user).includes('purge'));
  await res.text();
  await noneOpen(2);
});
