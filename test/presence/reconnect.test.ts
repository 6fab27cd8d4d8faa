/**
 * What happens when the presence server goes away: operations fail fast with PRESENCE_UNAVAILABLE while it is
 * down, and once it is back (a restart loses all its in-memory state) the client reconnects by itself and
 * re-establishes every registration, publication and subscription it holds.
 */
import test from 'ava';
import { isPlbError } from '../../src/core/errors.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { startKamailio } from '../harness/kamailio.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

test('after a Kamailio restart the client reconnects and restores what it held', async (t) => {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const { client, sink, log } = makeClient(k.wsUrl, { reconnectDelayMs: 200, opTimeoutMs: 3000 });
  t.teardown(() => client.stop());
  await client.start();
  const held = newUser();
  const withdrawn = newUser();
  for (const u of [held, withdrawn]) {
    await client.register(u);
    await client.publish(u, { name: 'app-a', host: '127.0.0.1', port: 8081 });
    await client.subscribe(u);
  }
  await client.unsubscribe(withdrawn);
  await client.unpublish(withdrawn);
  await client.unregister(withdrawn);
  await sink.waitFor(held, (n) => tuple(n, OWN_TUPLE_ID) !== undefined, 'our tuple before the restart');
  const before = sink.forUser(held).length;

  await k.restart();

  await waitFor('the binding to come back', async () => (await k.bindingsOf(bindingAor(held, DOMAIN))).length === 1, 10000, 100);
  await waitFor('the subscription to come back', () => k.hasSubscribers(presentityUri(held, DOMAIN)), 10000, 100);
  await waitFor('the publication to come back', async () => (await k.presentities()).some((p: any) => p.user === held), 10000, 100);
  const n = await sink.waitFor(held, (x) => sink.forUser(held).indexOf(x) >= before && tuple(x, OWN_TUPLE_ID) !== undefined, 'a NOTIFY from the new subscription', 10000);
  t.is(n.subscription.state, 'active');
  t.true(client.held(held).subscribed && client.held(held).registered && client.held(held).published);

  t.deepEqual(await k.bindingsOf(bindingAor(withdrawn, DOMAIN)), [], 'nothing is restored for a withdrawn user');
  t.false(await k.hasSubscribers(presentityUri(withdrawn, DOMAIN)));
  t.true(log.entries.some((e) => e.msg === 'reconnected: restoring presence state'));

  await client.unsubscribe(held);
  await client.unpublish(held);
  await client.unregister(held);
  t.false(await k.hasSubscribers(presentityUri(held, DOMAIN)));
  t.deepEqual(await k.bindingsOf(bindingAor(held, DOMAIN)), []);
  t.deepEqual(await k.presentities(), []);
});

test('while the presence server is down, operations fail fast with PRESENCE_UNAVAILABLE', async (t) => {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const { client } = makeClient(k.wsUrl, { reconnectDelayMs: 60000 });
  t.teardown(() => client.stop());
  await client.start();
  const user = newUser();
  await client.register(user);
  await k.stop();
  const t0 = Date.now();
  const err = await t.throwsAsync(client.subscribe(newUser()));
  t.true(isPlbError(err, 'PRESENCE_UNAVAILABLE'), String(err));
  t.true(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  // stop() must not hang on withdrawals that cannot be sent.
  const t1 = Date.now();
  await client.stop();
  t.true(Date.now() - t1 < 4000, `stop took ${Date.now() - t1} ms`);
});
