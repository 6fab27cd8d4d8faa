/**
 * SipPresenceClient against a real Kamailio (kamailio/kamailio.cfg) and an independent SIP.js device: every
 * assertion is on state Kamailio reports over JSON-RPC or on what the peers really received.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { isPlbError } from '../../src/core/errors.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { startSipDevice } from '../harness/sip-device.ts';
import { freePort, waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

const test = anyTest as TestFn<{ k: Kamailio }>;
const APP_A = { name: 'app-a', host: '127.0.0.1', port: 8081 };
const APP_B = { name: 'app-b', host: '127.0.0.1', port: 8082 };

test.before(async (t) => {
  t.context.k = await startKamailio();
});
test.after.always(async (t) => {
  await t.context.k?.stop();
});

/** started gives a started client that the test's teardown stops. */
async function started(t: ExecutionContext<{ k: Kamailio }>) {
  const c = makeClient(t.context.k.wsUrl);
  t.teardown(() => c.client.stop());
  await c.client.start();
  return c;
}

test('register makes a binding Kamailio holds; unregister removes it', async (t) => {
  const { client } = await started(t);
  const user = newUser();
  const aor = bindingAor(user, DOMAIN);
  t.deepEqual(await t.context.k.bindingsOf(aor), []);
  await client.register(user);
  const bindings = await t.context.k.bindingsOf(aor);
  t.is(bindings.length, 1);
  t.regex(bindings[0]!.received ?? '', /^sip:127\.0\.0\.1:\d+;transport=ws$/, 'fix_nated_register saved the real address');
  t.true(bindings[0]!.expires > 0 && bindings[0]!.expires <= 300);
  t.true(client.held(user).registered);
  await client.unregister(user);
  t.deepEqual(await t.context.k.bindingsOf(aor), []);
  t.false(client.held(user).registered);
});

test('publish then subscribe: the first NOTIFY carries our tuple, dated', async (t) => {
  const { client, sink } = await started(t);
  const user = newUser();
  await client.publish(user, APP_A);
  await client.subscribe(user);
  t.true(await t.context.k.hasSubscribers(presentityUri(user, DOMAIN)));
  const n = await sink.waitFor(user, (x) => tuple(x, OWN_TUPLE_ID) !== undefined, 'a NOTIFY with our tuple');
  t.is(sink.forUser(user)[0], n, 'it is the first NOTIFY');
  t.is(n.subscription.state, 'active');
  t.is(n.document?.entity, presentityUri(user, DOMAIN));
  const { timestamp, ...own } = tuple(n, OWN_TUPLE_ID)!;
  t.deepEqual(own, { id: OWN_TUPLE_ID, basic: 'open', note: 'presencelb: requesting resources of application server app-a (127.0.0.1:8081)' });
  t.is(typeof timestamp, 'number', 'our <timestamp> is read back');
  t.not(n.sentAt, null, 'Kamailio stamps NOTIFYs with a Date header');
  t.true(Math.abs(n.receivedAt - n.sentAt!) < 5000);
});

test('a second publish modifies the same publication (one presentity record, new note)', async (t) => {
  const { client, sink } = await started(t);
  const user = newUser();
  await client.publish(user, APP_A);
  await client.publish(user, APP_B);
  const mine = (await t.context.k.presentities()).filter((p: any) => p.user === user);
  t.is(mine.length, 1, JSON.stringify(mine));
  t.regex(mine[0].body, /app-b/);
  await client.subscribe(user);
  const n = await sink.waitFor(user, (x) => tuple(x, OWN_TUPLE_ID) !== undefined, 'a NOTIFY with our tuple');
  t.is(n.document!.tuples.filter((x) => x.id === OWN_TUPLE_ID).length, 1);
  t.regex(tuple(n, OWN_TUPLE_ID)!.note ?? '', /app-b/);
});

test('the device publishing closed reaches the sink with both tuples and a Date', async (t) => {
  const { client, sink } = await started(t);
  const user = newUser();
  const device = await startSipDevice({ wsUrl: t.context.k.wsUrl, domain: DOMAIN, user });
  t.teardown(() => device.stop());
  await device.publish('open', 'at my desk');
  await client.register(user);
  await client.publish(user, APP_A);
  await client.subscribe(user);
  await sink.waitFor(user, (n) => tuple(n, 'device')?.basic === 'open' && tuple(n, OWN_TUPLE_ID) !== undefined, 'open device + our tuple');
  const before = Date.now();
  await device.publish('closed', 'gone home');
  const n = await sink.waitFor(user, (x) => tuple(x, 'device')?.basic === 'closed', 'a NOTIFY with the device closed');
  t.deepEqual(tuple(n, 'device'), { id: 'device', basic: 'closed', note: 'gone home' });
  t.is(tuple(n, OWN_TUPLE_ID)?.basic, 'open');
  t.is(n.subscription.state, 'active');
  t.is(n.bodyError, null);
  t.not(n.sentAt, null);
  // Date has one-second resolution.
  t.true(n.sentAt! >= Math.floor(before / 1000) * 1000 && n.sentAt! <= n.receivedAt + 1000, `sentAt ${n.sentAt} before ${before} received ${n.receivedAt}`);
});

test('sendReconnect delivers a MESSAGE with the UUID to the registered device', async (t) => {
  const { client } = await started(t);
  const user = newUser();
  const device = await startSipDevice({ wsUrl: t.context.k.wsUrl, domain: DOMAIN, user });
  t.teardown(() => device.stop());
  await client.sendReconnect(user, APP_A);
  const m = await device.waitForMessage();
  t.deepEqual(m.headers['x-presencelb-reconnect'], [`uuid=${user};server=app-a`]);
  t.is(m.contentType, 'application/json');
  t.deepEqual(JSON.parse(m.body), { action: 'reconnect', uuid: user, applicationServer: 'app-a' });
  t.is(m.from, `sip:presencelb@${DOMAIN}`);
  t.is(device.messages.length, 1);
});

test('sendReconnect with no device registered rejects PRESENCE_REJECTED 404', async (t) => {
  const { client } = await started(t);
  const err = await t.throwsAsync(client.sendReconnect(newUser(), APP_A));
  t.true(isPlbError(err, 'PRESENCE_REJECTED'), String(err));
  t.regex(err!.message, /404/);
});

test('sendReconnect that the device refuses rejects with the device status', async (t) => {
  const { client } = await started(t);
  const user = newUser();
  const device = await startSipDevice({ wsUrl: t.context.k.wsUrl, domain: DOMAIN, user, messageStatus: 480 });
  t.teardown(() => device.stop());
  const err = await t.throwsAsync(client.sendReconnect(user, APP_A));
  t.true(isPlbError(err, 'PRESENCE_REJECTED'), String(err));
  t.regex(err!.message, /480/);
  t.is(device.messages.length, 1);
});

test('full teardown leaves Kamailio holding nothing for the user', async (t) => {
  const { client, sink } = await started(t);
  const user = newUser();
  const pres = presentityUri(user, DOMAIN);
  await client.register(user);
  await client.publish(user, APP_A);
  await client.subscribe(user);
  await sink.waitFor(user, (n) => tuple(n, OWN_TUPLE_ID) !== undefined, 'our tuple');
  t.true(await t.context.k.hasSubscribers(pres));
  t.is((await t.context.k.bindingsOf(bindingAor(user, DOMAIN))).length, 1);
  t.is((await t.context.k.presentities()).filter((p: any) => p.user === user).length, 1);
  const seen = sink.forUser(user).length;

  // Check after each step: a later step must not be what cleans up an earlier one (for example, a NOTIFY about
  // the unpublish answered 481 by a dialog SIP.js forgot would also remove the subscription).
  await client.unsubscribe(user);
  t.false(await t.context.k.hasSubscribers(pres));
  await client.unpublish(user);
  t.deepEqual((await t.context.k.presentities()).filter((p: any) => p.user === user), []);
  await client.unregister(user);
  t.deepEqual(await t.context.k.bindingsOf(bindingAor(user, DOMAIN)), []);
  t.deepEqual(client.held(user), { registered: false, published: false, subscribed: false });
  await new Promise((r) => setTimeout(r, 200));
  t.is(sink.forUser(user).length, seen, 'the final NOTIFY after our own unsubscribe is not handed to the core');
  // Withdrawing again holds nothing: resolves at once.
  await client.unsubscribe(user);
  await client.unpublish(user);
  await client.unregister(user);
});

test('withdrawing what is not held needs no connection at all', async (t) => {
  const { client } = makeClient(`ws://127.0.0.1:${await freePort()}`);
  const user = newUser();
  await client.unsubscribe(user);
  await client.unpublish(user);
  await client.unregister(user);
  t.pass();
});

test('start() with nothing listening rejects PRESENCE_UNAVAILABLE quickly; a later operation connects', async (t) => {
  const port = await freePort();
  const { client } = makeClient(`ws://127.0.0.1:${port}`);
  t.teardown(() => client.stop());
  const t0 = Date.now();
  const err = await t.throwsAsync(client.start());
  t.true(isPlbError(err, 'PRESENCE_UNAVAILABLE'), String(err));
  t.regex(err!.message, new RegExp(`ws://127\\.0\\.0\\.1:${port}`));
  t.true(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  const again = await t.throwsAsync(client.register(newUser()));
  t.true(isPlbError(again, 'PRESENCE_UNAVAILABLE'), String(again));

  const k2 = await startKamailio({ port });
  t.teardown(() => k2.stop());
  const user = newUser();
  await client.register(user);
  t.is((await k2.bindingsOf(bindingAor(user, DOMAIN))).length, 1);
  await client.unregister(user);
});

test('subscribing again refreshes the subscription in its dialog', async (t) => {
  const { client, sink } = await started(t);
  const user = newUser();
  await client.subscribe(user);
  await waitFor('first NOTIFY', () => sink.forUser(user).length > 0);
  t.true(client.held(user).subscribed);
  await client.subscribe(user);
  await waitFor('the NOTIFY answering the refresh', () => sink.forUser(user).length > 1);
  t.true(sink.forUser(user).every((n) => n.subscription.state === 'active'));
  await client.unsubscribe(user);
  t.false(await t.context.k.hasSubscribers(presentityUri(user, DOMAIN)));
  t.false(client.held(user).subscribed);
});

test('a sink that throws does not stop NOTIFYs from being answered and delivered', async (t) => {
  const { client, sink, log } = makeClient(t.context.k.wsUrl);
  t.teardown(() => client.stop());
  let calls = 0;
  const record = sink.onNotify.bind(sink);
  sink.onNotify = (n) => {
    calls += 1;
    if (calls === 1) throw new Error('sink bug');
    record(n);
  };
  await client.start();
  const user = newUser();
  await client.subscribe(user);
  await waitFor('the first NOTIFY to reach the sink', () => calls >= 1);
  await client.publish(user, APP_A);
  const n = await sink.waitFor(user, (x) => tuple(x, OWN_TUPLE_ID) !== undefined, 'the NOTIFY after the publish');
  t.is(n.subscription.state, 'active');
  t.true(await t.context.k.hasSubscribers(presentityUri(user, DOMAIN)), 'the subscription survived');
  t.true(log.entries.some((e) => e.level === 'error' && e.msg === 'presence sink threw'));
  await client.unsubscribe(user);
  await client.unpublish(user);
});
