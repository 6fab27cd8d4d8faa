/**
 * Refreshes against a real Kamailio, with short expiries (kamailio.cfg: registrar min_expires 5 s, presence
 * min_expires 0, presence clean_period and usrloc timer_interval 10 s, so anything not refreshed is gone within
 * expiry + 10 s): the client re-REGISTERs, re-PUBLISHes with its entity tag and re-SUBSCRIBEs in the dialog on
 * its own, at 90% of what the server granted.
 */
import test from 'ava';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { startKamailio, usrlocKey } from '../harness/kamailio.ts';
import { startSipDevice } from '../harness/sip-device.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

const EXPIRES = 5;

test(`REGISTER, PUBLISH and SUBSCRIBE with ${EXPIRES} s expiries are refreshed and outlive them (over tcp://)`, async (t) => {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const { client, sink, log } = makeClient(k.tcpUrl, { registerExpiresSec: EXPIRES, publishExpiresSec: EXPIRES, subscribeExpiresSec: EXPIRES });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.register(user);
  await client.publish(user, { name: 'app-a', host: '127.0.0.1', port: 8081 });
  await client.subscribe(user);
  const binding = async () => (await k.rpc('ul.lookup', ['location', usrlocKey(bindingAor(user, DOMAIN))])).Contacts[0].Contact;
  const publication = async () => (await k.presentities()).find((p: any) => p.user === user);
  const first = { cseq: (await binding())['CSeq'], etag: (await publication()).etag };

  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, (EXPIRES + 10) * 1000 + 500));
  t.log(`checked ${Date.now() - t0} ms after setting up`);

  const b = await binding();
  t.true(b['CSeq'] >= first.cseq + 3, `REGISTER refreshed (CSeq ${first.cseq} -> ${b['CSeq']})`);
  t.true(b['Expires'] > 0 && b['Expires'] <= EXPIRES, `binding expires in ${b['Expires']} s`);
  const p = await publication();
  t.truthy(p, 'the publication is still held');
  t.not(p.etag, first.etag, 'refreshed: Kamailio issued a new entity tag');
  t.true(p.expires * 1000 > Date.now(), 'not expired');
  t.true(await k.hasSubscribers(presentityUri(user, DOMAIN)), 'the subscription is still held');
  const notes = sink.forUser(user);
  t.true(notes.length >= 4, `${notes.length} NOTIFYs: the first, then one per SUBSCRIBE or PUBLISH refresh`);
  t.true(notes.every((n) => n.subscription.state === 'active' && (n.subscription.expires ?? 99) <= EXPIRES));
  t.true(notes.every((n) => tuple(n, OWN_TUPLE_ID)?.basic === 'open'), 'every NOTIFY still carries presencelb\'s tuple');
  t.deepEqual(Object.values(client.held(user)), [true, true, true]);
  t.deepEqual(log.entries.filter((e) => e.level === 'warn' || e.level === 'error'), []);
  t.deepEqual(sink.lost, []);
});

test('why refreshes carry the body: after a body-less refresh Kamailio (publ_cache=2) serves an empty document', async (t) => {
  const k = await startKamailio();
  t.teardown(() => k.stop());
  const user = newUser();
  const device = await startSipDevice({ wsUrl: k.wsUrl, domain: DOMAIN, user, register: false, expiresSec: 60 });
  t.teardown(() => device.stop());
  await device.publish('open', 'at my desk');
  const watch = async () => {
    const { client, sink } = makeClient(k.wsUrl);
    await client.subscribe(user);
    const n = await sink.waitFor(user, () => true, 'a NOTIFY');
    await client.stop();
    return n;
  };
  t.is(tuple(await watch(), 'device')?.basic, 'open');
  await device.refreshPublication();
  await waitFor('Kamailio to apply the refresh', async () => (await k.presentities()).some((p: any) => p.user === user), 2000);
  const after = await watch();
  t.is(tuple(after, 'device'), undefined, 'the device\'s tuple is gone although its publication was refreshed, not removed');
});
