/**
 * Subscriptions the presence server ends with a NOTIFY (Subscription-State: terminated), one test per reason of
 * RFC 6665 section 4.1.3, played by SIPp (test/sipp/notify-terminated.xml, subscribe-refused.xml). The sink always
 * gets the terminating NOTIFY with its reason; what differs is whether the client subscribes again, and when.
 */
import test, { type ExecutionContext } from 'ava';
import { startSipp, type SippServer } from '../harness/sipp.ts';
import { waitFor } from '../harness/ports.ts';
import { makeClient, newUser } from './helpers.ts';

/** started runs notify-terminated.xml: the first `terminations` subscriptions end with finalState. */
async function started(t: ExecutionContext, finalState: string, terminations = 1) {
  const sipp = await startSipp({ scenario: 'notify-terminated.xml', keys: { final_state: finalState, terminations } });
  t.teardown(() => sipp.close());
  const c = makeClient(sipp.url, { opTimeoutMs: 2000 });
  t.teardown(() => c.client.stop());
  return { sipp, ...c };
}

/** initialSubscribes are the SUBSCRIBEs that started a dialog (no To tag). */
function initialSubscribes(sipp: SippServer) {
  return sipp.received('SUBSCRIBE').filter((m) => !/;\s*tag=/.test(m.header('to') ?? ''));
}

for (const reason of ['deactivated', 'timeout', null] as const) {
  test(`terminated;reason=${reason ?? '(none)'}: delivered, then a new subscription at once`, async (t) => {
    const state = reason ? `terminated;reason=${reason}` : 'terminated';
    const { sipp, client, sink } = await started(t, state);
    const user = newUser();
    await client.subscribe(user);
    const end = await sink.waitFor(user, (n) => n.subscription.state === 'terminated', 'the terminating NOTIFY');
    t.deepEqual(end.subscription, { state: 'terminated', reason, expires: null, retryAfter: null });
    await waitFor('a second initial SUBSCRIBE', () => initialSubscribes(sipp).length === 2, 2000, 10);
    t.true(Date.now() - end.receivedAt < 1000, `re-subscribed ${Date.now() - end.receivedAt} ms after the NOTIFY`);
    const [first, second] = initialSubscribes(sipp);
    t.not(first!.header('call-id'), second!.header('call-id'), 'a new dialog');
    await sink.waitFor(user, (n) => sink.forUser(user).indexOf(n) > sink.forUser(user).indexOf(end) && n.subscription.state === 'active', 'the new subscription\'s NOTIFY');
    await waitFor('the client to hold the new subscription', () => client.held(user).subscribed, 2000, 10);
    t.deepEqual(sink.lost, []);
    t.is(sipp.errors(), '');
  });
}

for (const reason of ['probation', 'giveup'] as const) {
  test(`terminated;reason=${reason};retry-after=2: delivered, then a new subscription after 2 s`, async (t) => {
    const { sipp, client, sink } = await started(t, `terminated;reason=${reason};retry-after=2`);
    const user = newUser();
    await client.subscribe(user);
    const end = await sink.waitFor(user, (n) => n.subscription.state === 'terminated', 'the terminating NOTIFY');
    t.deepEqual(end.subscription, { state: 'terminated', reason, expires: null, retryAfter: 2 });
    t.false(client.held(user).subscribed);
    await waitFor('a second initial SUBSCRIBE', () => initialSubscribes(sipp).length === 2, 4000, 10);
    const waited = Date.now() - end.receivedAt;
    t.true(waited >= 1950 && waited < 3000, `re-subscribed ${waited} ms after the NOTIFY`);
    await waitFor('the client to hold the new subscription', () => client.held(user).subscribed, 2000, 10);
    t.deepEqual(sink.lost, []);
    t.is(sipp.errors(), '');
  });
}

for (const reason of ['rejected', 'noresource', 'invariant'] as const) {
  test(`terminated;reason=${reason}: delivered for the core to tear down; no new subscription`, async (t) => {
    const { sipp, client, sink, log } = await started(t, `terminated;reason=${reason}`);
    const user = newUser();
    await client.subscribe(user);
    const end = await sink.waitFor(user, (n) => n.subscription.state === 'terminated', 'the terminating NOTIFY');
    t.is(end.subscription.reason, reason);
    t.is(sink.forUser(user).at(-1), end, 'the terminating NOTIFY is the last one');
    await new Promise((r) => setTimeout(r, 1500));
    t.is(initialSubscribes(sipp).length, 1, 'not subscribed again');
    t.false(client.held(user).subscribed);
    t.deepEqual(sink.lost, [], 'the NOTIFY told the core already');
    t.true(log.entries.some((e) => e.msg === 'presence subscription terminated by the server for good: not subscribing again'));
    // The core's teardown finds nothing to withdraw: no traffic.
    await client.unsubscribe(user);
    t.is(sipp.received('SUBSCRIBE').length, 1);
    t.is(sipp.errors(), '');
  });
}

test('a server that terminates every new subscription: given up after 5 re-subscriptions, the core is told', async (t) => {
  const { sipp, client, sink } = await started(t, 'terminated;reason=deactivated', 1000);
  const user = newUser();
  await client.subscribe(user);
  await waitFor('onSubscriptionLost', () => sink.lost.length > 0, 5000, 10);
  t.is(sink.lost.length, 1);
  t.is(sink.lost[0]!.user, user);
  t.regex(sink.lost[0]!.reason, /terminated again and again .*deactivated/);
  await new Promise((r) => setTimeout(r, 500));
  t.is(initialSubscribes(sipp).length, 6, 'the first subscription and 5 re-subscriptions');
  t.is(sink.forUser(user).filter((n) => n.subscription.state === 'terminated').length, 6);
  t.false(client.held(user).subscribed);
  t.is(sipp.errors(), '');
});

test('re-subscribing refused every time: the healer gives up and the core is told (onSubscriptionLost)', async (t) => {
  const sipp = await startSipp({ scenario: 'subscribe-refused.xml' });
  t.teardown(() => sipp.close());
  const { client, sink, log } = makeClient(sipp.url, { opTimeoutMs: 2000, healDelaysMs: [0, 100, 200] });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.subscribe(user);
  await sink.waitFor(user, (n) => n.subscription.reason === 'timeout', 'the terminating NOTIFY');
  await waitFor('onSubscriptionLost', () => sink.lost.length > 0, 3000, 10);
  t.deepEqual(sink.lost.map((l) => l.user), [user]);
  t.regex(sink.lost[0]!.reason, /could not subscribe again: .*403/);
  t.is(initialSubscribes(sipp).length, 4, 'the first subscription, then one attempt per heal delay');
  t.true(log.entries.some((e) => e.level === 'error' && e.msg === 'gave up re-establishing presence state'));
  t.false(client.held(user).subscribed);
  // The core decides next; a subscribe() it asks for starts afresh.
  await new Promise((r) => setTimeout(r, 300));
  t.is(initialSubscribes(sipp).length, 4, 'nothing more once given up');
  t.is(sipp.errors(), '');
});
