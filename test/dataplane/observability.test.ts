/**
 * Observability mode (envoy/envoy-observability.yaml, identity.source jwt): ext_proc off the critical path. Flows
 * are still recorded and ended, long-lived and aborted ones included; a slow presence server no longer delays
 * anything (and the claim's register and notify steps no longer precede access); identities are rejected by Envoy
 * alone (jwt_authn 401, RBAC 403 for a subject that is not a UUID). After each test no ext_proc stream (Envoy
 * keeps each up to deferred_close_timeout, 5 s) and no flow is left open.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { OBSERVABILITY_BOOTSTRAP } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', bootstrap: OBSERVABILITY_BOOTSTRAP });
});
test.after.always(async () => {
  await rig?.stop();
});

const auth = (user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** SETTLE_MS covers Envoy's deferred_close_timeout (5 s) for the last stream. */
const SETTLE_MS = 15000;

test.serial('flows are recorded and ended: a plain request, a 3 s stream (open until it closes), an aborted request', async (t) => {
  const mark = rig.mark();
  const user = randomUUID();
  const r = await rig.get('/hello', { as: user });
  t.is(r.status, 200);
  t.is(r.body.user, user);
  await rig.plb.waitForEvent(user, 'subscribe');
  await waitFor('the first flow ended', async () => (await rig.flowsOf(user)).filter((f: any) => f.end_reason === 'completed').length === 1);

  const startedAt = Date.now();
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=3`, { headers: auth(user) });
  await sleep(1500);
  t.is((await rig.flowsOf(user)).filter((f: any) => f.ended_at === null).length, 1, 'the stream’s flow is open');
  await res.text();
  const stream = await waitFor('the stream’s flow ended', async () => (await rig.flowsOf(user)).find((f: any) => f.ended_at !== null && f.ended_at - startedAt > 2900));
  t.is(stream.end_reason, 'completed');

  const ac = new AbortController();
  const pending = fetch(`${rig.envoy.listenerUrl}/slow?delay_ms=4000`, { headers: auth(user), signal: ac.signal });
  await waitFor('the slow request’s flow', async () => (await rig.flowsOf(user)).length === 3);
  ac.abort();
  t.is((await pending.then(() => null, (e: unknown) => e as Error))?.name, 'AbortError', 'the client gave up');
  await waitFor('the aborted flow ended', async () => (await rig.flowsOf(user)).some((f: any) => f.end_reason === 'stream_error'));
  t.deepEqual((await rig.flowsOf(user)).map((f: any) => f.end_reason), ['completed', 'completed', 'stream_error']);
  await rig.settled(mark, SETTLE_MS);
});

test.serial('off the critical path: a slow presence server delays nothing, and access comes before the claim’s first steps', async (t) => {
  const mark = rig.mark();
  const stat = async (name: string) => Number((await rig.envoy.stats(`^http\\.app\\.ext_proc\\.${name}$`))[`http.app.ext_proc.${name}`] ?? 0);
  const timeoutsBefore = await stat('message_timeouts');
  rig.presenceProxy.delayMs = 1500;
  const user = randomUUID();
  try {
    const t0 = Date.now();
    const r = await rig.get('/first', { as: user });
    const answeredAt = Date.now();
    t.is(r.status, 200);
    t.true(answeredAt - t0 < 450, `answered in ${answeredAt - t0} ms, below message_timeout (blocking mode waits for it)`);
    const register = await rig.plb.waitForEvent(user, 'register', 15000);
    t.true(Date.parse(register.time as string) > answeredAt, 'the user had access before presencelb registered them');
    await rig.plb.waitForEvent(user, 'subscribe', 15000);
    t.is(await stat('message_timeouts'), timeoutsBefore, 'Envoy never waited for presencelb');
    await waitFor('the flow recorded and ended', async () => (await rig.flowsOf(user)).some((f: any) => f.end_reason === 'completed'));
  } finally {
    rig.presenceProxy.delayMs = 0;
  }
  await rig.settled(mark, SETTLE_MS);
});

test.serial('identities are rejected by Envoy: 401 without a valid token, 403 when the subject is not a UUID; nothing stored', async (t) => {
  const mark = rig.mark();
  const flowsBefore = rig.counts()?.flowsTotal ?? 0;
  const before = await rig.rowCounts();
  const cases: [string, Record<string, string>, number][] = [
    ['no token', {}, 401],
    ['expired', { authorization: `Bearer ${rig.token({ sub: randomUUID(), ttlSec: -120 })}` }, 401],
    ['sub not a UUID', { authorization: `Bearer ${rig.token({ sub: 'someone' })}` }, 403],
    ['sub with CR/LF', { authorization: `Bearer ${rig.token({ sub: `${randomUUID()}\r\nx-evil: 1` })}` }, 403],
    ['no sub, a header instead', { authorization: `Bearer ${rig.token({})}`, 'x-user-id': randomUUID() }, 403],
  ];
  for (const [what, headers, status] of cases) {
    const r = await rig.get('/x', { headers });
    t.is(r.status, status, `${what}: ${r.text}`);
  }
  // Envoy answered alone: presencelb saw none of these requests (ext_proc skips response headers, so not even
  // Envoy's own local replies reach it), and it started no flow.
  t.is(await rig.unseen(mark), mark, 'presencelb saw no stream');
  t.is(rig.counts()?.flowsTotal ?? 0, flowsBefore);
  t.deepEqual(await rig.rowCounts(), before);
});
