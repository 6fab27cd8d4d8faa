/**
 * Claim 1, teardown branch, end to end: a user idle when the presence server sends the NOTIFY is unsubscribed,
 * unpublished, unregistered and purged: Kamailio holds nothing of presencelb's for the user, no table a row.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { bindingAor, presentityUri } from '../../src/core/presence.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, startStack, type Stack } from './stack.ts';

let stack: Stack;
test.before(async () => {
  stack = await startStack({ graceMs: 500 });
});
test.after.always(async () => {
  await stack?.stop();
});

test('an idle user is released: unsubscribe, unpublish, unregister, purge', async (t) => {
  const user = randomUUID() as UserId;
  const device = await stack.device(user);
  t.is((await stack.get('/hello', user)).status, 200);
  await stack.plb.waitForEvent(user, 'subscribe');
  await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
  // Kamailio holds presencelb's binding and subscription for the user, and the store the user's rows.
  t.is((await stack.kamailio!.bindingsOf(bindingAor(user, DOMAIN))).length, 1);
  t.true(await stack.kamailio!.hasSubscribers(presentityUri(user, DOMAIN)));
  await waitFor('the flow end from the access log', async () => (await stack.db('flows').where('user_id', user).whereNotNull('ended_at')).length === 1);
  const before = await stack.rowsAbout(user);
  t.is(before.users, 1);
  t.is(before.flows, 1);

  await new Promise((r) => setTimeout(r, 800)); // past the 500 ms grace period
  await device.publish('closed');
  await stack.plb.waitForEvent(user, 'purge', 10000);

  const steps = stack.plb.events(user);
  const tail = steps.slice(steps.indexOf('identify'));
  t.deepEqual(tail, ['identify', 'unsubscribe', 'unpublish', 'unregister', 'purge']);
  const identify = stack.plb.lines.find((l) => l.user === user && l.event === 'claim.identify');
  t.is(identify?.branch, 'teardown');

  t.deepEqual(await stack.kamailio!.bindingsOf(bindingAor(user, DOMAIN)), []);
  t.false(await stack.kamailio!.hasSubscribers(presentityUri(user, DOMAIN)));
  const presentities = await stack.kamailio!.presentities();
  t.false(JSON.stringify(presentities).includes('presencelb: requesting'), 'presencelb’s publication is withdrawn');
  const after = await stack.rowsAbout(user);
  t.true(Object.keys(after).length >= 4, `tables checked: ${Object.keys(after).join(',')}`);
  t.deepEqual(Object.values(after).filter((n) => n > 0), [], JSON.stringify(after));

  // The user comes back: the claim starts over.
  t.is((await stack.get('/again', user)).status, 200);
  await waitFor('a fresh registration', () => stack.plb.events(user).filter((s) => s === 'register').length === 2);
});
