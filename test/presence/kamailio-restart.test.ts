/**
 * A Kamailio restart (same port; presence state lives in memory, so the restarted server knows nothing) under 20
 * tracked users, over each transport Kamailio serves here: the client reconnects on its own and every user's
 * binding, publication and subscription are back in Kamailio, and the sink saw nothing that would make the core
 * tear a user down (no terminated subscription, no onSubscriptionLost).
 */
import test, { type ExecutionContext } from 'ava';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { startKamailio, usrlocKey, type Kamailio } from '../harness/kamailio.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

const USERS = 20;
const APP_A = { name: 'app-a', host: '127.0.0.1', port: 8081 };

/** restored lists the users whose binding, publication (with presencelb's tuple) and subscription Kamailio holds. */
async function restored(k: Kamailio, users: readonly UserId[]): Promise<{ bound: number; published: number; subscribed: number }> {
  const dump = await k.rpc('ul.dump');
  const aors = new Set<string>((dump.Domains?.[0]?.Domain?.AoRs ?? []).map((a: any) => a.Info.AoR));
  const pres = await k.presentities();
  const subs = await Promise.all(users.map((u) => k.hasSubscribers(presentityUri(u, DOMAIN))));
  return {
    bound: users.filter((u) => aors.has(usrlocKey(bindingAor(u, DOMAIN)))).length,
    published: users.filter((u) => pres.some((p: any) => p.user === u && String(p.body).includes(`id="${OWN_TUPLE_ID}"`))).length,
    subscribed: subs.filter(Boolean).length,
  };
}

async function restartUnderLoad(t: ExecutionContext, scheme: 'ws' | 'tcp') {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const { client, sink, log } = makeClient(scheme === 'ws' ? k.wsUrl : k.tcpUrl, { reconnectDelayMs: 200, opTimeoutMs: 3000 });
  t.teardown(() => client.stop());
  await client.start();
  const users = Array.from({ length: USERS }, newUser);
  await Promise.all(users.map(async (u) => {
    await client.register(u);
    await client.publish(u, APP_A);
    await client.subscribe(u);
  }));
  await Promise.all(users.map((u) => sink.waitFor(u, (n) => tuple(n, OWN_TUPLE_ID) !== undefined, `our tuple for ${u}`)));
  t.deepEqual(await restored(k, users), { bound: USERS, published: USERS, subscribed: USERS });
  const seen = new Map(users.map((u) => [u, sink.forUser(u).length]));

  const mainPid = async () => (await k.rpc('core.psx')).find((p: any) => p.IDX === 0)?.PID;
  const pidBefore = await mainPid();
  const t0 = Date.now();
  await k.restart();
  const t1 = Date.now();
  // The restarted Kamailio started with nothing (presence in memory): whatever it holds now, the client restored.
  t.not(await mainPid(), pidBefore, 'a new Kamailio process');
  await waitFor('every user back in Kamailio', async () => {
    const r = await restored(k, users);
    return r.bound === USERS && r.published === USERS && r.subscribed === USERS;
  }, 30000, 100);
  t.log(`${scheme}: Kamailio down and up in ${t1 - t0} ms; ${USERS} users restored ${Date.now() - t1} ms after it was back`);

  await Promise.all(users.map((u) => sink.waitFor(u, (n) => sink.forUser(u).indexOf(n) >= seen.get(u)! && tuple(n, OWN_TUPLE_ID)?.basic === 'open',
    `a NOTIFY of ${u}'s new subscription`, 10000)));
  await waitFor('the client to hold everything again', () => users.every((u) => Object.values(client.held(u)).every(Boolean)), 5000, 50);
  t.deepEqual(sink.received.filter((n) => n.subscription.state !== 'active'), [], 'no terminated or pending NOTIFY reached the core');
  t.deepEqual(sink.received.filter((n) => n.bodyError !== null), []);
  t.deepEqual(sink.lost, [], 'no subscription was given up');
  t.deepEqual(log.entries.filter((e) => e.level === 'error'), []);
  t.is(log.entries.filter((e) => e.msg === 'reconnected: restoring presence state').length, 1);

  await Promise.all(users.map(async (u) => {
    await client.unsubscribe(u);
    await client.unpublish(u);
    await client.unregister(u);
  }));
  t.deepEqual(await restored(k, users), { bound: 0, published: 0, subscribed: 0 }, 'and withdrawn cleanly afterwards');
}

test(`${USERS} users over ws:// are all back in Kamailio after it restarts`, restartUnderLoad, 'ws');
test(`${USERS} users over tcp:// are all back in Kamailio after it restarts`, restartUnderLoad, 'tcp');
