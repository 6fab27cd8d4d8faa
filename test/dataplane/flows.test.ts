/**
 * Flow starts and ends with the shipped bootstrap (JWT identity, ext_proc on the critical path) in the cases where
 * the ext_proc stream and the HTTP stream part ways: a long-lived stream outlives its ext_proc stream and counts
 * as open until it closes; a client that goes away before the upstream answers ends its flow with stream_error;
 * presencelb slower than Envoy's message_timeout lets the request through (failure_mode_allow) and still records
 * the flow correctly. After each test no ext_proc stream and no flow is left open.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', stepTimeoutMs: 3000 });
});
test.after.always(async () => {
  await rig?.stop();
});

const auth = (user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** newUser makes a user known to presencelb (first request served, claim set up), so later flows are plain. */
async function newUser(): Promise<string> {
  const user = randomUUID();
  await rig.get('/hello', { as: user });
  await rig.plb.waitForEvent(user, 'subscribe');
  return user;
}

test.serial('a long-lived stream (server-sent events, 4 s) is an open flow until it closes', async (t) => {
  const mark = rig.mark();
  const user = await newUser();
  const startedAt = Date.now();
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=4`, { headers: auth(user) });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/event-stream');

  // Mid-stream: Envoy has already ended the request's ext_proc stream, but the flow is open.
  await sleep(2000);
  const flows = await rig.flowsOf(user);
  const open = flows.filter((f: any) => f.ended_at === null);
  t.is(open.length, 1, 'the stream’s flow is open in the store');
  t.like(rig.counts(), { openFlows: 1, openStreams: 0 });

  const body = await res.text();
  const closedAt = Date.now();
  t.is(body.match(/^data: /gm)?.length, 4, 'four events');
  const ended = await waitFor('the flow to end', async () => {
    const [f] = (await rig.flowsOf(user)).filter((x: any) => x.id === open[0].id && x.ended_at !== null);
    return f;
  });
  t.is(ended.end_reason, 'completed');
  t.true(ended.ended_at >= startedAt + 3900, `ended ${ended.ended_at - startedAt} ms after the request started`);
  t.true(ended.ended_at <= closedAt + 100, 'not after the client saw the end');
  await rig.settled(mark);
});

test.serial('a client that goes away before the upstream answers: the flow ends then, with reason stream_error', async (t) => {
  const mark = rig.mark();
  const user = await newUser();
  const served = rig.counts()!.flowsTotal;
  const ac = new AbortController();
  const pending = fetch(`${rig.envoy.listenerUrl}/slow?delay_ms=4000`, { headers: auth(user), signal: ac.signal });
  await waitFor('presencelb to see the request', () => rig.counts()!.flowsTotal > served && rig.counts()!.openFlows === 1);
  await sleep(300);
  const abortedAt = Date.now();
  ac.abort();
  t.is((await pending.then(() => null, (e: unknown) => e as Error))?.name, 'AbortError', 'the client gave up');
  const [flow] = await waitFor('the aborted flow to end', async () => {
    const f = (await rig.flowsOf(user)).filter((x: any) => x.ended_at !== null && x.end_reason === 'stream_error');
    return f.length === 1 ? f : null;
  });
  t.true(Math.abs(flow.ended_at - abortedAt) < 500, `ended ${flow.ended_at - abortedAt} ms from the abort`);
  t.true((await rig.flowsOf(user)).every((f: any) => f.ended_at !== null), 'no flow of the user left open');
  await rig.settled(mark);
});

test.serial('presencelb slower than message_timeout: the request goes on (failure_mode_allow) and its flow is still recorded', async (t) => {
  const mark = rig.mark();
  const stat = async (name: string) => Number((await rig.envoy.stats(`^http\\.app\\.ext_proc\\.${name}$`))[`http.app.ext_proc.${name}`] ?? 0);
  const timeoutsBefore = await stat('message_timeouts');
  const allowedBefore = await stat('failure_mode_allowed');
  // Kamailio's answers now take 1.2 s: a new user's register and notify steps (which hold the first request, up
  // to presence.stepTimeoutMs = 3 s) take longer than Envoy's message_timeout of 0.5 s.
  rig.presenceProxy.delayMs = 1200;
  const user = randomUUID();
  try {
    const t0 = Date.now();
    const r = await rig.get('/first', { as: user });
    const took = Date.now() - t0;
    t.is(r.status, 200, 'served all the same');
    t.is(r.body.user, user);
    t.true(took >= 450 && took < 1200, `answered after ${took} ms: at Envoy's message_timeout, not after the presence steps`);
    t.is(await stat('message_timeouts'), timeoutsBefore + 1);
    t.is(await stat('failure_mode_allowed'), allowedBefore + 1);

    // The flow was recorded at the request headers and ends from the access log as completed: Envoy dropping the
    // ext_proc stream is not the end of the HTTP stream.
    const [flow] = await waitFor('the flow ended', async () => {
      const f = await rig.flowsOf(user);
      return f.length === 1 && f[0].ended_at !== null ? f : null;
    });
    t.like(flow, { end_reason: 'completed', app_server: r.body.server });
    // The claim's steps still complete, late.
    await rig.plb.waitForEvent(user, 'subscribe', 15000);
    t.deepEqual(rig.plb.events(user).slice(0, 4), ['register', 'notify', 'provide_access', 'subscribe']);
  } finally {
    rig.presenceProxy.delayMs = 0;
  }
  await rig.settled(mark);
});
