/** Many users at once through one SipPresenceClient and one WebSocket, against a real Kamailio. */
import test from 'ava';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { startKamailio, usrlocKey } from '../harness/kamailio.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

const USERS = 30;

test('30 users register, publish, subscribe and tear down in parallel', async (t) => {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const { client, sink, log } = makeClient(k.wsUrl);
  t.teardown(() => client.stop());
  await client.start();
  const users = Array.from({ length: USERS }, newUser);
  const app = { name: 'app-a', host: '127.0.0.1', port: 8081 };

  const t0 = Date.now();
  await Promise.all(users.map(async (u) => {
    await client.register(u);
    await client.publish(u, app);
    await client.subscribe(u);
  }));
  t.log(`${USERS} users set up in ${Date.now() - t0} ms`);
  await Promise.all(users.map((u) => sink.waitFor(u, (n) => tuple(n, OWN_TUPLE_ID)?.basic === 'open', `our tuple for ${u}`)));

  const dump = await k.rpc('ul.dump');
  const aors = new Set<string>(dump.Domains[0].Domain.AoRs.map((a: any) => a.Info.AoR));
  for (const u of users) t.true(aors.has(usrlocKey(bindingAor(u, DOMAIN))), `binding for ${u}`);
  const subscribed = await Promise.all(users.map((u) => k.hasSubscribers(presentityUri(u, DOMAIN))));
  t.true(subscribed.every(Boolean));
  t.is((await k.presentities()).filter((p: any) => users.includes(p.user)).length, USERS);
  for (const u of users) t.true(sink.forUser(u).every((n) => n.user === u && n.bodyError === null), `notifications for ${u} are its own`);

  const t1 = Date.now();
  await Promise.all(users.map((u) => Promise.all([client.unsubscribe(u), client.unpublish(u), client.unregister(u)])));
  t.log(`${USERS} users torn down in ${Date.now() - t1} ms`);

  const after = await k.rpc('ul.dump');
  t.deepEqual(after.Domains[0].Domain.AoRs, []);
  t.false((await Promise.all(users.map((u) => k.hasSubscribers(presentityUri(u, DOMAIN))))).some(Boolean));
  t.deepEqual(await k.presentities(), []);
  t.deepEqual(log.entries.filter((e) => e.level === 'error'), []);
  t.notRegex(k.logs(), /\bERROR\b/, 'Kamailio logged no errors');
});
