/**
 * Faults of the presence server's side, over tcp:// with SIPp: a server that stops answering (operations time out
 * with PRESENCE_TIMEOUT, the client stays usable) and a connection that drops while a transaction waits (it fails
 * at once with PRESENCE_UNAVAILABLE; the client reconnects with back-off, then registers, publishes and
 * subscribes again by itself).
 */
import test from 'ava';
import { isPlbError } from '../../src/core/errors.ts';
import { bindingAor, presentityUri } from '../../src/core/presence.ts';
import { startSipp } from '../harness/sipp.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser } from './helpers.ts';

const APP_A = { name: 'app-a', host: '127.0.0.1', port: 8081 };

test('a server that stops answering: operations reject PRESENCE_TIMEOUT after opTimeoutMs; the client stays usable', async (t) => {
  const sipp = await startSipp({ scenario: 'silent.xml' });
  t.teardown(() => sipp.close());
  const opTimeoutMs = 400;
  const { client } = makeClient(sipp.url, { opTimeoutMs });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.register(user);
  for (const [name, op] of [
    ['publish', () => client.publish(user, APP_A)],
    ['subscribe', () => client.subscribe(user)],
    ['sendReconnect', () => client.sendReconnect(user, APP_A)],
  ] as const) {
    const t0 = Date.now();
    const err = await t.throwsAsync(op());
    const took = Date.now() - t0;
    t.true(isPlbError(err, 'PRESENCE_TIMEOUT'), `${name}: ${String(err)}`);
    t.true(took >= opTimeoutMs - 20 && took < opTimeoutMs + 500, `${name} took ${took} ms`);
  }
  t.deepEqual(client.held(user), { registered: true, published: false, subscribed: false });
  t.true(client.connected, 'the connection is still up');
  const other = newUser();
  await client.register(other);
  t.true(client.held(other).registered, 'a later operation succeeds on the same connection');
  t.deepEqual(sipp.received().map((m) => m.method), ['REGISTER', 'PUBLISH', 'SUBSCRIBE', 'MESSAGE', 'REGISTER']);
  t.is(sipp.errors(), '');
});

test('the connection drops mid-transaction: PRESENCE_UNAVAILABLE at once, then reconnect with back-off and restore', async (t) => {
  const sipp = await startSipp({ scenario: 'presence-server.xml' });
  t.teardown(() => sipp.close());
  const { client, sink, log } = makeClient(sipp.url, { opTimeoutMs: 5000, reconnectDelayMs: 100 });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.register(user);
  await client.publish(user, APP_A);
  await client.subscribe(user);
  await sink.waitFor(user, () => true, 'the first NOTIFY');
  const before = sink.forUser(user).length;

  const pending = client.sendReconnect(user, APP_A); // presence-server.xml never answers MESSAGE
  await sipp.waitFor('the MESSAGE at SIPp', (m) => m.method === 'MESSAGE');
  const t0 = Date.now();
  await sipp.stop();
  const err = await t.throwsAsync(pending);
  t.true(isPlbError(err, 'PRESENCE_UNAVAILABLE'), String(err));
  t.regex(err!.message, /connection lost before the answer came/);
  t.true(Date.now() - t0 < 1000, `failed ${Date.now() - t0} ms after the drop, not after opTimeoutMs`);
  await waitFor('the client to notice', () => !client.connected, 1000, 10);
  const down = await t.throwsAsync(client.register(newUser()));
  t.true(isPlbError(down, 'PRESENCE_UNAVAILABLE'), `while down: ${String(down)}`);

  await waitFor('two failed reconnect attempts', () => log.entries.filter((e) => e.msg === 'reconnect failed').length >= 2, 3000, 10);
  await sipp.restart();
  const run1 = () => sipp.messages().filter((m) => m.run === 1 && m.direction === 'received');
  // A new subscription is a SUBSCRIBE without To tag (the old dialog is first ended, in case the server kept it).
  const isNew = (m: { method: string | null; header(n: string): string | undefined }) => m.method === 'SUBSCRIBE' && !/;\s*tag=/.test(m.header('to') ?? '');
  await waitFor('REGISTER, PUBLISH and a new SUBSCRIBE', () => run1().some((m) => m.method === 'REGISTER') && run1().some((m) => m.method === 'PUBLISH') && run1().some(isNew), 5000, 20);
  const reg = run1().find((m) => m.method === 'REGISTER')!;
  const pub = run1().find((m) => m.method === 'PUBLISH')!;
  const sub = run1().find(isNew)!;
  t.regex(reg.header('to') ?? '', new RegExp(bindingAor(user, DOMAIN)));
  t.regex(pub.body, /app-a/, 'the last published document again');
  t.regex(sub.header('to') ?? '', new RegExp(presentityUri(user, DOMAIN)));
  t.is(sub.header('expires'), '300');
  await sink.waitFor(user, (n) => sink.forUser(user).indexOf(n) >= before, 'a NOTIFY of the new subscription');
  await waitFor('everything held again', () => Object.values(client.held(user)).every(Boolean), 2000, 10);
  t.true(sink.received.every((n) => n.subscription.state === 'active'), 'the outage reached the core as nothing');
  t.deepEqual(sink.lost, []);

  const delays = log.entries.filter((e) => e.msg === 'reconnect failed').map((e) => (e.obj as { nextInMs: number }).nextInMs);
  t.true(delays.every((d, i) => i === 0 || d >= delays[i - 1]!), `back-off grows: ${delays.join(', ')}`);
  t.true(log.entries.some((e) => e.msg === 'connected to presence server' && (e.obj as { reconnected: boolean }).reconnected));
  t.true(log.entries.some((e) => e.msg === 'reconnected: restoring presence state'));
});
