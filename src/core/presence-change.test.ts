import test from 'ava';
import { classifyNotify } from './presence-change.ts';
import type { PresenceNotification, PresenceTuple } from './ports.ts';
import { OWN_TUPLE_ID } from './presence.ts';
import type { UserId } from './user-id.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const n = (tuples: PresenceTuple[] | null, extra: Partial<PresenceNotification> = {}): PresenceNotification => ({
  user: U, sentAt: null, receivedAt: 1, bodyError: null,
  subscription: { state: 'active', reason: null, expires: 600, retryAfter: null },
  document: tuples === null ? null : { entity: `sip:${U}@d`, tuples }, ...extra,
});
const own = (note: string): PresenceTuple => ({ id: OWN_TUPLE_ID, basic: 'open', note });
const dev = (basic: 'open' | 'closed'): PresenceTuple => ({ id: 'device1', basic, note: null });

test('first NOTIFY is the baseline, even with an empty body', (t) => {
  t.is(classifyNotify(null, n(null)).kind, 'baseline');
  t.is(classifyNotify(null, n([own('a')])).kind, 'baseline');
});

test('a change of presencelb’s own tuple only is not a presence change', (t) => {
  const base = classifyNotify(null, n([own('app-a'), dev('open')]));
  t.is(classifyNotify(base.fingerprint, n([own('app-b'), dev('open')])).kind, 'unchanged');
  t.is(classifyNotify(base.fingerprint, n([dev('open')])).kind, 'unchanged');
});

test('another party’s tuple changing, appearing or disappearing is a change; order does not matter', (t) => {
  const base = classifyNotify(null, n([own('x')]));
  t.is(classifyNotify(base.fingerprint, n([own('x'), dev('closed')])).kind, 'changed');
  const b2 = classifyNotify(null, n([dev('open'), { id: 'a', basic: 'open', note: null }]));
  t.is(classifyNotify(b2.fingerprint, n([{ id: 'a', basic: 'open', note: null }, dev('open')])).kind, 'unchanged');
  t.is(classifyNotify(b2.fingerprint, n([dev('open')])).kind, 'changed');
});

test('an unparsable body is invalid; a terminated subscription is terminated', (t) => {
  t.is(classifyNotify('[]', n(null, { bodyError: 'not XML' })).kind, 'invalid');
  t.is(classifyNotify('[]', n(null, { subscription: { state: 'terminated', reason: 'noresource', expires: null, retryAfter: null } })).kind, 'terminated');
});
