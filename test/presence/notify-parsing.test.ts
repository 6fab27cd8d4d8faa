/** Table tests for the NOTIFY header parsers and the NOTIFY-to-PresenceNotification mapping. */
import test from 'ava';
import type { SubscriptionState } from '../../src/core/ports.ts';
import { parseSipDate, parseSubscriptionState } from '../../src/presence/sip-headers.ts';
import { toPresenceNotification, type NotifyMessage } from '../../src/presence/notification.ts';
import { reconnectBody, reconnectHeader } from '../../src/presence/reconnect-message.ts';
import { newUser } from './helpers.ts';

const states: Array<[string | undefined, SubscriptionState | null]> = [
  ['active;expires=60', { state: 'active', reason: null, expires: 60, retryAfter: null }],
  ['Active ; Expires = 3600', { state: 'active', reason: null, expires: 3600, retryAfter: null }],
  ['pending', { state: 'pending', reason: null, expires: null, retryAfter: null }],
  ['terminated;reason=timeout', { state: 'terminated', reason: 'timeout', expires: null, retryAfter: null }],
  ['terminated;reason=probation;retry-after=30;foo=bar', { state: 'terminated', reason: 'probation', expires: null, retryAfter: 30 }],
  ['active;expires=abc', { state: 'active', reason: null, expires: null, retryAfter: null }],
  ['gone', null],
  ['', null],
  [undefined, null],
];
for (const [input, want] of states) {
  test(`parseSubscriptionState(${JSON.stringify(input)})`, (t) => t.deepEqual(parseSubscriptionState(input), want));
}

const dates: Array<[string | undefined, number | null]> = [
  ['Wed, 25 Nov 2026 17:38:25 GMT', Date.UTC(2026, 10, 25, 17, 38, 25)],
  [' Sat, 13 Nov 2010 23:29:00 GMT ', Date.UTC(2010, 10, 13, 23, 29, 0)],
  ['2026-11-25T17:38:25Z', null],
  ['Wed, 25 Nov 2026 17:38:25 +0100', null],
  ['yesterday', null],
  [undefined, null],
];
for (const [input, want] of dates) {
  test(`parseSipDate(${JSON.stringify(input)})`, (t) => t.is(parseSipDate(input), want));
}

function msg(headers: Record<string, string>, body: string): NotifyMessage {
  return { header: (h) => headers[h.toLowerCase()], body };
}

test('toPresenceNotification: empty body, Date and Subscription-State', (t) => {
  const user = newUser();
  const n = toPresenceNotification(user, msg({ 'subscription-state': 'active;expires=60', date: 'Wed, 25 Nov 2026 17:38:25 GMT' }, ''), 42);
  t.deepEqual(n, {
    user,
    sentAt: Date.UTC(2026, 10, 25, 17, 38, 25),
    receivedAt: 42,
    subscription: { state: 'active', reason: null, expires: 60, retryAfter: null },
    document: null,
    bodyError: null,
  });
});

test('toPresenceNotification: PIDF body parsed, no Date gives sentAt null', (t) => {
  const user = newUser();
  const body = `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:${user}@d"><tuple id="a"><status><basic>open</basic></status></tuple></presence>`;
  const n = toPresenceNotification(user, msg({ 'subscription-state': 'active', 'content-type': 'application/pidf+xml' }, body), 1);
  t.is(n?.sentAt, null);
  t.deepEqual(n?.document, { entity: `sip:${user}@d`, tuples: [{ id: 'a', basic: 'open', note: null }] });
  t.is(n?.bodyError, null);
});

test('toPresenceNotification: garbage body gives bodyError, never throws', (t) => {
  const user = newUser();
  const n = toPresenceNotification(user, msg({ 'subscription-state': 'active', 'content-type': 'application/pidf+xml' }, '<presence'), 1);
  t.is(n?.document, null);
  t.regex(n?.bodyError ?? '', /PIDF_INVALID/);
  const other = toPresenceNotification(user, msg({ 'subscription-state': 'active', 'content-type': 'text/plain' }, 'hello'), 1);
  t.regex(other?.bodyError ?? '', /Content-Type text\/plain/);
  t.is(toPresenceNotification(user, msg({}, ''), 1), null);
});

test('reconnect MESSAGE carries the UUID in a header parameter and in the JSON body', (t) => {
  const user = newUser();
  t.is(reconnectHeader(user, { name: 'app-a', host: '127.0.0.1', port: 8081 }), `X-PresenceLB-Reconnect: uuid=${user};server=app-a`);
  t.is(reconnectHeader(user, { name: 'app a;x', host: 'h', port: 1 }), `X-PresenceLB-Reconnect: uuid=${user};server="app a;x"`);
  t.deepEqual(JSON.parse(reconnectBody(user, { name: 'app-a', host: 'h', port: 1 })), { action: 'reconnect', uuid: user, applicationServer: 'app-a' });
});
