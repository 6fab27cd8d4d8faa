import test from 'ava';
import {
  classifyNotify,
  DEFAULT_PRESENCE_INTERPRETATION,
  observePresence,
  presenceSaysGone,
  snapshotFromFingerprint,
  type NotifyKind,
  type PresenceInterpretation,
} from './presence-change.ts';
import type { PresenceActivities, PresenceDocument, PresenceNotification, PresencePerson, PresenceTuple, PresenceUserInput } from './ports.ts';
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

// ----- RPID interpretation (presenceVerdict, classifyNotify with RPID) -----

const T = Date.UTC(2026, 5, 1, 12);
const MIN = 60_000;
const rules: PresenceInterpretation = DEFAULT_PRESENCE_INTERPRETATION;
const open = (id: string, extra: Partial<PresenceTuple> = {}): PresenceTuple => ({ id, basic: 'open', note: null, ...extra });
const closed = (id: string, extra: Partial<PresenceTuple> = {}): PresenceTuple => ({ id, basic: 'closed', note: null, ...extra });
const acts = (...names: string[]): PresenceActivities[] => [{ names, other: [] }];
const idleSince = (ms: number): PresenceUserInput => ({ value: 'idle', lastInput: ms });
const active: PresenceUserInput = { value: 'active' };
const doc = (tuples: PresenceTuple[], persons?: PresencePerson[]): PresenceDocument => ({ entity: 'sip:u@d', tuples, ...(persons ? { persons } : {}) });
const verdictAt = (d: PresenceDocument, at = T, r = rules) => observePresence(d, at, r).verdict;

const verdicts: Array<{ name: string; doc: PresenceDocument; gone: boolean; rules?: PresenceInterpretation; reason?: RegExp }> = [
  { name: 'no tuple at all', doc: doc([]), gone: true, reason: /no other party/ },
  { name: 'only our own tuple open, even carrying RPID that says active', doc: doc([open(OWN_TUPLE_ID, { userInput: active, activities: acts('working') })]), gone: true },
  { name: 'a device open without RPID', doc: doc([open('dev')]), gone: false, reason: /tuple dev is open/ },
  { name: 'the only open device says vacation in its status', doc: doc([open('dev', { activities: acts('vacation') })]), gone: true, reason: /dev: activity vacation/ },
  { name: 'the only open device says away: stepping away is not gone', doc: doc([open('dev', { activities: acts('away') })]), gone: false },
  { name: 'on-the-phone, meeting, other and unknown are not gone', doc: doc([open('dev', { activities: [{ names: ['on-the-phone', 'meeting', 'other', 'unknown'], other: ['Out of office'] }] })]), gone: false },
  { name: 'a configured activity is gone', doc: doc([open('dev', { activities: acts('away') })]), rules: { goneActivities: ['away'], idleGoneAfterMs: null }, gone: true },
  { name: 'vacation on a closed device and nothing open', doc: doc([closed('dev', { activities: acts('vacation') })]), gone: true, reason: /no other party/ },
  { name: 'the person sleeping, the open device says nothing itself', doc: doc([open('dev')], [{ id: 'p', activities: acts('sleeping') }]), gone: true, reason: /person activity sleeping/ },
  { name: 'the person on vacation, but the open device says on-the-phone', doc: doc([open('dev', { activities: acts('on-the-phone') })], [{ id: 'p', activities: acts('vacation') }]), gone: false },
  { name: 'the person’s activity unknown', doc: doc([open('dev')], [{ id: 'p', activities: acts('unknown') }]), gone: false },
  { name: 'vacation that is over (until in the past)', doc: doc([open('dev', { activities: [{ names: ['vacation'], other: [], until: T - 1 }] })]), gone: false },
  { name: 'vacation not begun yet (from in the future)', doc: doc([open('dev', { activities: [{ names: ['vacation'], other: [], from: T + 1 }] })]), gone: false },
  { name: 'vacation in force (from ≤ now < until)', doc: doc([open('dev', { activities: [{ names: ['vacation'], other: [], from: T - 1, until: T + 1 }] })]), gone: true },
  { name: 'a device idle since two hours (last-input)', doc: doc([open('dev', { userInput: idleSince(T - 120 * MIN) })]), gone: true, reason: /dev: idle for 7200000 ms/ },
  { name: 'a device idle since 30 minutes', doc: doc([open('dev', { userInput: idleSince(T - 30 * MIN) })]), gone: false },
  { name: 'exactly the threshold is gone', doc: doc([open('dev', { userInput: idleSince(T - 60 * MIN) })]), gone: true },
  { name: 'idleness never says gone when idleGoneAfterMs is null', doc: doc([open('dev', { userInput: idleSince(T - 1000 * MIN) })]), rules: { goneActivities: [], idleGoneAfterMs: null }, gone: false },
  { name: 'idle-threshold and timestamp, no last-input: idle since timestamp − threshold', doc: doc([open('dev', { timestamp: T - 50 * MIN, userInput: { value: 'idle', idleThresholdSec: 600 } })]), gone: true },
  { name: 'idle-threshold alone: idle since the NOTIFY less the threshold', doc: doc([open('dev', { userInput: { value: 'idle', idleThresholdSec: 600 } })]), gone: false },
  { name: 'mixed: one open active device and one open idle device', doc: doc([open('desk', { userInput: idleSince(T - 300 * MIN) }), open('phone', { userInput: active })]), gone: false, reason: /phone is open/ },
  { name: 'mixed: one open device without RPID and one open idle device', doc: doc([open('desk', { userInput: idleSince(T - 300 * MIN) }), open('phone')]), gone: false },
  { name: 'every open device away, each its own way; the closed one does not count', doc: doc([open('desk', { userInput: idleSince(T - 300 * MIN) }), open('phone', { activities: acts('holiday') }), closed('tab', { userInput: active })]), gone: true },
  { name: 'the person idle since two hours, the open device says nothing itself', doc: doc([open('dev')], [{ id: 'p', userInput: idleSince(T - 120 * MIN) }]), gone: true, reason: /person idle/ },
  { name: 'the person idle, the open device itself active', doc: doc([open('dev', { userInput: active })], [{ id: 'p', userInput: idleSince(T - 120 * MIN) }]), gone: false },
  { name: 'a person active beats an idle device', doc: doc([open('dev', { userInput: idleSince(T - 120 * MIN) })], [{ id: 'p', userInput: active }]), gone: false },
  { name: 'two persons idle: the most recent idle start counts', doc: doc([open('dev')], [{ id: 'a', userInput: idleSince(T - 500 * MIN) }, { id: 'b', userInput: idleSince(T - 10 * MIN) }]), gone: false },
  { name: 'our own tuple open and active does not keep an idle user present', doc: doc([open(OWN_TUPLE_ID, { userInput: active }), open('dev', { userInput: idleSince(T - 120 * MIN) })]), gone: true },
  { name: 'our own tuple saying vacation does not make a present user gone', doc: doc([open(OWN_TUPLE_ID, { activities: acts('vacation'), userInput: idleSince(0) }), open('dev')]), gone: false },
];

for (const c of verdicts) {
  test(`presenceVerdict: ${c.name} → ${c.gone ? 'gone' : 'present'}`, (t) => {
    const v = verdictAt(c.doc, T, c.rules ?? rules);
    t.is(v.gone, c.gone, v.reason);
    if (c.reason) t.regex(v.reason, c.reason);
  });
}

test('presenceVerdict: no NOTIFY seen yet (null snapshot) is gone, as before', (t) => {
  t.true(presenceSaysGone(null, T, rules));
});

const at = (ms: number): Partial<PresenceNotification> => ({ sentAt: ms, receivedAt: ms });

test('RPID changes that do not flip the verdict are not presence changes', (t) => {
  const base = classifyNotify(null, n([own('app-a'), open('dev', { activities: acts('on-the-phone') })], at(T)));
  t.false(base.verdict?.gone);
  const steps: PresenceNotification[] = [
    n([own('app-a'), open('dev', { activities: acts('away') })], at(T + 1000)),
    n([own('app-a'), open('dev', { activities: acts('away'), userInput: idleSince(T - 5 * MIN) })], at(T + 2000)),
    n([own('app-a'), open('dev', { activities: acts('meeting'), userInput: idleSince(T - 1 * MIN), timestamp: T })], at(T + 3000)),
    n([own('app-b'), open('dev', { userInput: active })], at(T + 4000)),
  ];
  let fp = base.fingerprint;
  for (const s of steps) {
    const c = classifyNotify(fp, s);
    t.is(c.kind, 'unchanged', JSON.stringify(s.document));
    fp = c.fingerprint;
  }
});

test('an RPID change that flips the verdict is a presence change, in both directions (flapping through RPID)', (t) => {
  let fp = classifyNotify(null, n([own('app-a'), open('dev')], at(T))).fingerprint;
  const seq: Array<[PresenceTuple, NotifyKind, boolean]> = [
    [open('dev', { activities: acts('vacation') }), 'changed', true],
    [open('dev', { activities: acts('vacation', 'travel') }), 'unchanged', true],
    [open('dev', { activities: acts('working') }), 'changed', false],
    [open('dev', { userInput: idleSince(T - 200 * MIN) }), 'changed', true],
    [open('dev', { userInput: active }), 'changed', false],
    [open('dev', { activities: acts('sleeping') }), 'changed', true],
  ];
  seq.forEach(([tuple, kind, gone], i) => {
    const c = classifyNotify(fp, n([own('app-a'), tuple], at(T + (i + 1) * 1000)));
    t.is(c.kind, kind, `step ${i}`);
    t.is(c.verdict?.gone, gone, `step ${i}`);
    fp = c.fingerprint;
  });
});

test('RPID of presencelb’s own tuple never makes a change', (t) => {
  const base = classifyNotify(null, n([own('app-a'), dev('open')], at(T)));
  const c = classifyNotify(base.fingerprint, n([{ ...own('app-a'), activities: acts('vacation'), userInput: idleSince(0) }, dev('open')], at(T + 1000)));
  t.is(c.kind, 'unchanged');
  t.false(c.verdict?.gone);
});

test('a person element alone can flip the verdict', (t) => {
  const base = classifyNotify(null, n([own('app-a'), dev('open')], at(T)));
  const p = (activities: PresenceActivities[]): PresenceNotification => ({ ...n(null, at(T + 1000)), document: doc([own('app-a'), dev('open')], [{ id: 'p1', activities }]) });
  const gone = classifyNotify(base.fingerprint, p(acts('vacation')));
  t.is(gone.kind, 'changed');
  t.is(classifyNotify(gone.fingerprint, p(acts('vacation'))).kind, 'unchanged');
  t.is(classifyNotify(gone.fingerprint, p(acts('away'))).kind, 'changed');
});

test('idleness without last-input keeps counting across repeated documents and flips the verdict once long enough', (t) => {
  const idleDoc = (ms: number) => n([own('app-a'), open('dev', { userInput: { value: 'idle', idleThresholdSec: 300 } })], at(ms));
  const first = classifyNotify(classifyNotify(null, n([own('app-a'), open('dev')], at(T - MIN))).fingerprint, idleDoc(T));
  t.is(first.kind, 'unchanged', 'idle for 5 minutes: still present');
  t.is(snapshotFromFingerprint(first.fingerprint)?.tuples[0]?.idleSince, T - 5 * MIN);
  const refresh = classifyNotify(first.fingerprint, idleDoc(T + 30 * MIN));
  t.is(refresh.kind, 'unchanged', 'the same document 30 minutes later: idle 35 minutes');
  t.is(snapshotFromFingerprint(refresh.fingerprint)?.tuples[0]?.idleSince, T - 5 * MIN, 'the idle start is kept');
  const later = classifyNotify(refresh.fingerprint, idleDoc(T + 56 * MIN));
  t.is(later.kind, 'changed', 'idle 61 minutes: gone');
  t.true(later.verdict?.gone);
  t.true(presenceSaysGone(snapshotFromFingerprint(refresh.fingerprint), T + 56 * MIN, rules), 'a later verdict on a kept snapshot counts to that instant');
  const back = classifyNotify(later.fingerprint, n([own('app-a'), open('dev', { userInput: active })], at(T + 57 * MIN)));
  t.is(back.kind, 'changed');
  const idleAgain = classifyNotify(back.fingerprint, idleDoc(T + 58 * MIN));
  t.is(snapshotFromFingerprint(idleAgain.fingerprint)?.tuples[0]?.idleSince, T + 53 * MIN, 'after an active spell, the count starts over');
});

test('a changed timestamp alone is not a presence change; notes still are', (t) => {
  const base = classifyNotify(null, n([own('app-a'), open('dev', { timestamp: T })], at(T)));
  t.is(classifyNotify(base.fingerprint, n([own('app-a'), open('dev', { timestamp: T + 5000 })], at(T + 5000))).kind, 'unchanged');
  t.is(classifyNotify(base.fingerprint, n([own('app-a'), open('dev', { note: 'lunch' })], at(T + 5000))).kind, 'changed');
});

test('snapshotFromFingerprint: round trip; null and foreign text give null', (t) => {
  const c = classifyNotify(null, n([own('app-a'), open('dev', { activities: acts('vacation') })], at(T)));
  const s = snapshotFromFingerprint(c.fingerprint);
  t.deepEqual(s, { tuples: [open('dev', { activities: acts('vacation') })], persons: [], gone: true });
  t.is(snapshotFromFingerprint(null), null);
  t.is(snapshotFromFingerprint('not json'), null);
  t.is(snapshotFromFingerprint('[1,2]'), null);
  t.is(snapshotFromFingerprint('{"tuples":"x"}'), null);
});
