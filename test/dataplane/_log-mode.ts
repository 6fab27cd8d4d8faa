/**
 * The scenarios every access-log mode shares, whichever transport brings Envoy's entries (the gRPC access log,
 * access-log-mode.test.ts, or the flow log file, flow-log-mode.test.ts): presencelb sees no ext_proc stream and
 * learns every flow from Envoy's log entries.
 */
import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import type { Rig } from './_rig.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = (rig: Rig, user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });

/** noneOpen waits until presencelb reports no open flow and has recorded at least `flows` flows in all. */
export async function noneOpen(rig: Rig, flows: number): Promise<void> {
  await waitFor(`no open flow after ${flows} flows (last: ${JSON.stringify(rig.counts())})`, () => {
    const c = rig.counts();
    return c !== null && c.flowsTotal >= flows && c.openFlows === 0 && c.openStreams === 0;
  }, 10000);
}

/**
 * wholeOpenAndAborted: a short request is recorded whole when it ends (presencelb hears of the user from the log,
 * after the request: the claim's steps follow it); a 3 s stream is opened by its periodic entry, with the stream's
 * start time, and closed by its final entry, one flow however many entries; an aborted request ends stream_error.
 */
export async function wholeOpenAndAborted(t: ExecutionContext, rig: Rig): Promise<void> {
  const user = randomUUID();
  const t0 = Date.now();
  const r = await rig.get('/hello', { as: user });
  t.is(r.status, 200);
  t.is(r.body.user, user);
  const register = await rig.plb.waitForEvent(user, 'register', 10000);
  t.true(Date.parse(register.time as string) >= t0, 'presencelb heard of the user from the log, after the request');
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const [first] = await waitFor('the first flow', async () => {
    const f = await rig.flowsOf(user);
    return f.length === 1 && f[0].ended_at !== null ? f : null;
  });
  t.is(first.end_reason, 'completed');
  t.true(first.started_at >= t0 - 5 && first.started_at <= first.ended_at, 'started at the entry’s start time');
  t.truthy(first.app_server, 'the upstream that served it');

  const startedAt = Date.now();
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=3`, { headers: auth(rig, user) });
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
  const pending = fetch(`${rig.envoy.listenerUrl}/slow?delay_ms=4000`, { headers: auth(rig, user), signal: ac.signal });
  await waitFor('the slow request’s flow', async () => (await rig.flowsOf(user)).length === 3, 4000);
  ac.abort();
  t.is((await pending.then(() => null, (e: unknown) => e as Error))?.name, 'AbortError');
  await waitFor('the aborted flow ended', async () => (await rig.flowsOf(user)).some((f: any) => f.end_reason === 'stream_error'));
  t.deepEqual((await rig.flowsOf(user)).map((f: any) => f.end_reason), ['completed', 'completed', 'stream_error']);
  await noneOpen(rig, 3);
}

/**
 * notifyDuringUnreportedStream: a NOTIFY sent 200 ms into a stream Envoy has not reported yet still finds it (the
 * decision waits extProc.accessLogLagMs), so the user is reconnected, not purged.
 */
export async function notifyDuringUnreportedStream(t: ExecutionContext, rig: Rig): Promise<void> {
  const user = randomUUID();
  const device = await rig.device(user);
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  await waitFor('the baseline NOTIFY', () => rig.plb.events(user).includes('receive_notification'));
  await sleep(1500); // past graceMs (1 s): the first request no longer counts as in use
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=4`, { headers: auth(rig, user) });
  t.is(res.status, 200);
  await sleep(200);
  t.is((await rig.flowsOf(user)).filter((f: any) => f.ended_at === null).length, 0, 'Envoy has not reported the stream yet');
  await device.publish('closed', 'went offline');
  const identify = await rig.plb.waitForEvent(user, 'identify', 10000);
  t.is(identify.branch, 'reconnect', String(identify.reason));
  await rig.plb.waitForEvent(user, 'reconnect_message', 10000);
  t.false(rig.plb.events(user).includes('purge'));
  await res.text();
  await noneOpen(rig, 2);
}
