/**
 * NOTIFYs a real presence server sends only by mistake, played by SIPp: a body that is not PIDF (answered 200,
 * delivered with bodyError, the subscription kept), and NOTIFYs for dialogs, event packages or presentities the
 * client does not hold (refused 481 / 489 and logged, never delivered).
 */
import test from 'ava';
import { startSipp } from '../harness/sipp.ts';
import { waitFor } from '../harness/ports.ts';
import { makeClient, newUser, tuple } from './helpers.ts';

test('a NOTIFY whose body is not PIDF is answered 200 and delivered with bodyError; the subscription stays', async (t) => {
  const sipp = await startSipp({ scenario: 'notify-bad-body.xml' });
  t.teardown(() => sipp.close());
  const { client, sink, log } = makeClient(sipp.url, { opTimeoutMs: 2000 });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.subscribe(user);
  await waitFor('three NOTIFYs', () => sink.forUser(user).length === 3, 3000, 10);
  const [good, bad, after] = sink.forUser(user);
  t.is(tuple(good!, 'device')?.basic, 'open');
  t.is(bad!.document, null);
  t.regex(bad!.bodyError ?? '', /not well-formed XML.*PIDF_INVALID/);
  t.is(bad!.subscription.state, 'active');
  t.is(tuple(after!, 'device')?.basic, 'closed', 'later NOTIFYs are delivered as usual');
  const answers = sipp.messages().filter((m) => m.direction === 'received' && m.status !== null);
  t.deepEqual(answers.map((m) => `${m.status} ${m.header('cseq')?.split(' ')[1]}`), ['200 NOTIFY', '200 NOTIFY', '200 NOTIFY']);
  t.true(client.held(user).subscribed);
  t.true(log.entries.some((e) => e.level === 'warn' && e.msg === 'NOTIFY body is not PIDF'));
  await client.unsubscribe(user);
  t.deepEqual(sipp.received('SUBSCRIBE').map((m) => m.header('expires')), ['300', '0']);
  t.is(sipp.errors(), '');
});

test('NOTIFYs for what the client does not hold: 489 for another event package, 481 otherwise, each logged', async (t) => {
  const sipp = await startSipp({ scenario: 'stray-notify.xml' });
  t.teardown(() => sipp.close());
  const { client, sink, log } = makeClient(sipp.url, { opTimeoutMs: 2000 });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.subscribe(user);
  await waitFor('the good NOTIFY after the stray ones', () => sink.forUser(user).length === 2, 3000, 10);
  const answers = sipp.messages().filter((m) => m.direction === 'received' && m.status !== null).map((m) => m.status);
  t.deepEqual(answers, [200, 489, 481, 481, 489, 481, 200]);
  t.true(sink.received.every((n) => n.user === user && n.subscription.state === 'active' && tuple(n, 'device')?.basic === 'open'),
    'only the good NOTIFYs reached the sink');
  t.true(client.held(user).subscribed, 'the subscription is intact');

  const refused = log.entries.filter((e) => e.msg?.startsWith('NOTIFY for '));
  t.deepEqual(refused.map((e) => (e.obj as { status: number }).status), [489, 481, 481, 489, 481]);
  t.true(refused.every((e) => e.level === 'warn' && (e.obj as { code: string }).code === 'NOTIFY_UNKNOWN_PRESENTITY'));
  t.regex(refused[1]!.msg!, /a subscription presencelb does not hold: answered 481/);
  t.regex(refused[0]!.msg!, /an event package presencelb did not subscribe to: answered 489/);
  t.regex((refused[4]!.obj as { from: string }).from, /somebody-else/, 'the line names the presentity');
  await client.unsubscribe(user);
  // SIPp matches answers to calls by Call-ID: those to the two NOTIFYs with Call-IDs of their own are "unexpected".
  const unexpected = [...sipp.errors().matchAll(/unexpected message for Call-Id '([^']+)'/g)].map((m) => m[1]!.split('-')[0]);
  t.deepEqual(unexpected, ['ooc1', 'ooc2']);
});
