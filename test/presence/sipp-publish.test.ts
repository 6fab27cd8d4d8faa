/**
 * PUBLISH answers Kamailio gives only in circumstances a test cannot arrange on demand, played by SIPp
 * (test/sipp/*.xml over tcp://): 412 to a forgotten entity tag, 423 with Min-Expires. Assertions are on the
 * messages SIPp traced.
 */
import test from 'ava';
import { OWN_TUPLE_ID } from '../../src/core/presence.ts';
import { parsePidf } from '../../src/presence/pidf.ts';
import { startSipp } from '../harness/sipp.ts';
import { makeClient, newUser } from './helpers.ts';

const APP_A = { name: 'app-a', host: '127.0.0.1', port: 8081 };
const APP_B = { name: 'app-b', host: '127.0.0.1', port: 8082 };

test('PUBLISH answered 412: the client publishes afresh, without SIP-If-Match, and keeps the new entity tag', async (t) => {
  const sipp = await startSipp({ scenario: 'publish-412.xml' });
  t.teardown(() => sipp.close());
  const { client, log } = makeClient(sipp.url, { opTimeoutMs: 2000 });
  t.teardown(() => client.stop());
  const user = newUser();

  await client.publish(user, APP_A); // etag-1, which the server then forgets
  await client.publish(user, APP_B); // modify with SIP-If-Match: etag-1 -> 412 -> fresh PUBLISH -> etag-3
  await client.publish(user, APP_A); // modify of the new publication
  await client.unpublish(user);

  const pubs = sipp.received('PUBLISH');
  t.deepEqual(pubs.map((m) => m.header('sip-if-match') ?? null), [null, 'etag-1', null, 'etag-3', 'etag-3']);
  t.deepEqual(pubs.map((m) => m.header('expires')), ['300', '300', '300', '300', '0']);
  const answers = sipp.messages().filter((m) => m.direction === 'sent' && m.status !== null).map((m) => m.status);
  t.deepEqual(answers, [200, 412, 200, 200, 200]);
  // The fresh publication carries the body of the modification that failed: the server holds the latest state.
  const note = (i: number) => {
    const r = parsePidf(pubs[i]!.body);
    return r.ok ? r.value.tuples.find((x) => x.id === OWN_TUPLE_ID)?.note : `unparsable: ${pubs[i]!.body}`;
  };
  t.regex(note(1) ?? '', /app-b/);
  t.regex(note(2) ?? '', /app-b/);
  t.is(pubs[4]!.body, '', 'the removal has no body');
  t.true(log.entries.some((e) => /forgot the publication \(412\)/.test(e.msg ?? '')));
  t.is(sipp.errors(), '');
});

test('PUBLISH answered 423: retried with the Min-Expires, which later requests keep', async (t) => {
  const sipp = await startSipp({ scenario: 'publish-423.xml', keys: { min_expires: 900 } });
  t.teardown(() => sipp.close());
  const { client } = makeClient(sipp.url, { opTimeoutMs: 2000, publishExpiresSec: 300 });
  t.teardown(() => client.stop());
  const user = newUser();

  await client.publish(user, APP_A);
  t.true(client.held(user).published);
  await client.publish(user, APP_B);
  await client.unpublish(user);

  const pubs = sipp.received('PUBLISH');
  t.deepEqual(pubs.map((m) => m.header('expires')), ['300', '900', '900', '0']);
  t.deepEqual(pubs.map((m) => m.header('sip-if-match') ?? null), [null, null, 'etag-2', 'etag-2']);
  const answers = sipp.messages().filter((m) => m.direction === 'sent' && m.status !== null).map((m) => m.status);
  t.deepEqual(answers, [423, 200, 200, 200]);
  t.is(sipp.errors(), '');
});
