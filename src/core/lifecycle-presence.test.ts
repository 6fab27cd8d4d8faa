/** The lifecycle with RPID presence: which NOTIFYs trigger the claim's decision, and the reconnect window's verdict. */
import test from 'ava';
import { Lifecycle } from './lifecycle.ts';
import type { LifecycleEvent } from './lifecycle-events.ts';
import type { PresenceNotification, PresencePerson, PresenceTuple } from './ports.ts';
import type { PresenceInterpretation } from './presence-change.ts';
import { OWN_TUPLE_ID } from './presence.ts';
import { FakePresence, FakeRoutes, ManualClock, MemoryLogger, MemoryStore } from './testing/fakes.ts';
import type { UserId } from './user-id.ts';

const U = '7d0c1f7e-3b1a-4c57-9a55-2a7f1c9e0b42' as UserId;
const MIN = 60_000;
const servers = [{ name: 'app-a', host: '127.0.0.1', port: 1 }];
const ownT: PresenceTuple = { id: OWN_TUPLE_ID, basic: 'open', note: 'app-a' };
const dev = (extra: Partial<PresenceTuple> = {}): PresenceTuple => ({ id: 'dev', basic: 'open', note: null, ...extra });

function setup(presenceInterpretation?: PresenceInterpretation) {
  const calls: string[] = [];
  const clock = new ManualClock();
  const store = new MemoryStore(calls);
  const lc = new Lifecycle({
    presence: new FakePresence(calls), store, routes: new FakeRoutes(calls), clock, log: new MemoryLogger(), appServers: servers,
    graceMs: 5000, reconnectWindowMs: 60000, stepTimeoutMs: 400, staleNotifyMs: 700000,
    ...(presenceInterpretation ? { presenceInterpretation } : {}),
  });
  const events: LifecycleEvent[] = [];
  lc.observe((e) => events.push(e));
  const notify = (tuples: PresenceTuple[], persons?: PresencePerson[]) =>
    lc.onNotify({
      user: U, sentAt: null, receivedAt: clock.now(), bodyError: null,
      subscription: { state: 'active', reason: null, expires: 600, retryAfter: null },
      document: { entity: `sip:${U}@d`, tuples: [ownT, ...tuples], ...(persons ? { persons } : {}) },
    } satisfies PresenceNotification);
  const decisions = () => events.filter((e) => e.step === 'identify').length;
  return { calls, clock, store, lc, events, notify, decisions };
}

/** tracked starts a user with one flow, ended at once unless keepOpen, and the baseline NOTIFY (device open). */
async function tracked(s: ReturnType<typeof setup>, keepOpen = false): Promise<void> {
  s.lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: s.clock.now() }, () => {});
  await s.lc.idle();
  if (!keepOpen) s.lc.flowEnded('f1', U, s.clock.now(), 'completed');
  s.notify([dev()]);
  await s.lc.idle();
  s.clock.advance(10_000);
}

test('vacation published with basic still open, no flow: a presence change, and the teardown branch runs', async (t) => {
  const s = setup();
  await tracked(s);
  s.notify([dev({ activities: [{ names: ['vacation'], other: [] }] })]);
  await s.lc.idle();
  const received = s.events.filter((e) => e.step === 'receive_notification').at(-1);
  t.is(received?.detail?.kind, 'changed');
  t.is(received?.detail?.presenceGone, true);
  t.deepEqual(s.calls.slice(-4), ['presence.unsubscribe', 'presence.unpublish', 'presence.unregister', 'store.purgeUser']);
  t.is(s.lc.session(U), undefined);
});

test('away or on-the-phone with basic still open is no presence change: no decision', async (t) => {
  const s = setup();
  await tracked(s);
  s.notify([dev({ activities: [{ names: ['away'], other: [] }] })]);
  s.notify([dev({ activities: [{ names: ['on-the-phone'], other: [] }], userInput: { value: 'active' } })]);
  await s.lc.idle();
  t.is(s.decisions(), 0);
  t.is(s.lc.session(U)?.state, 'tracking');
});

test('the configured activities are what counts: away configured as gone triggers the decision', async (t) => {
  const s = setup({ goneActivities: ['away'], idleGoneAfterMs: null });
  await tracked(s);
  s.notify([dev({ activities: [{ names: ['vacation'], other: [] }] })]);
  await s.lc.idle();
  t.is(s.decisions(), 0, 'vacation is not configured');
  s.notify([dev({ activities: [{ names: ['away'], other: [] }] })]);
  await s.lc.idle();
  t.is(s.decisions(), 1);
  t.true(s.calls.includes('store.purgeUser'));
});

test('reconnect window over, flows not resumed, the person on vacation (basic open): teardown', async (t) => {
  const s = setup();
  await tracked(s, true);
  s.notify([dev()], [{ id: 'p', activities: [{ names: ['vacation'], other: [] }] }]);
  await s.lc.idle();
  t.is(s.lc.session(U)?.state, 'reconnecting', 'a flow was open: reconnect');
  s.lc.flowEnded('f1', U, s.clock.now(), 'completed');
  s.clock.advance(60000);
  await s.lc.idle();
  const outcome = s.events.find((e) => e.step === 'reconnect_outcome');
  t.is(outcome?.detail?.outcome, 'not_resumed_presence_gone');
  t.regex(String(outcome?.detail?.presence), /person activity vacation/);
  t.is(s.lc.session(U), undefined);
});

test('reconnect window over, flows not resumed, the user only away: route withdrawn, still tracked', async (t) => {
  const s = setup();
  await tracked(s, true);
  s.notify([dev({ note: 'brb', activities: [{ names: ['away'], other: [] }] })]);
  await s.lc.idle();
  t.is(s.lc.session(U)?.state, 'reconnecting');
  s.lc.flowEnded('f1', U, s.clock.now(), 'completed');
  s.clock.advance(60000);
  await s.lc.idle();
  t.is(s.events.find((e) => e.step === 'reconnect_outcome')?.detail?.outcome, 'not_resumed_presence_available');
  t.is(s.calls.at(-1), 'routes.unpin');
  t.is(s.lc.session(U)?.state, 'tracking');
});

test('the window’s verdict counts idleness up to the window’s end', async (t) => {
  const s = setup();
  await tracked(s, true);
  // Idle for 59.5 minutes when the NOTIFY is sent (present), 60.5 minutes when the window ends (gone).
  s.notify([dev({ note: 'idle', userInput: { value: 'idle', lastInput: s.clock.now() - 59.5 * MIN } })]);
  await s.lc.idle();
  t.is(s.events.filter((e) => e.step === 'receive_notification').at(-1)?.detail?.presenceGone, false);
  t.is(s.lc.session(U)?.state, 'reconnecting');
  s.lc.flowEnded('f1', U, s.clock.now(), 'completed');
  s.clock.advance(60000);
  await s.lc.idle();
  t.is(s.events.find((e) => e.step === 'reconnect_outcome')?.detail?.outcome, 'not_resumed_presence_gone');
  t.is(s.lc.session(U), undefined);
});

test('an unchanged NOTIFY still refreshes what the window reads: the device active again keeps the user', async (t) => {
  const s = setup();
  await tracked(s, true);
  s.notify([dev({ note: 'idle', userInput: { value: 'idle', lastInput: s.clock.now() - 59.5 * MIN } })]);
  await s.lc.idle();
  // Still present, same note: not a change, but the window must not judge the stale idle start.
  s.notify([dev({ note: 'idle', userInput: { value: 'active' } })]);
  await s.lc.idle();
  t.is(s.decisions(), 1);
  s.lc.flowEnded('f1', U, s.clock.now(), 'completed');
  s.clock.advance(60000);
  await s.lc.idle();
  t.is(s.events.find((e) => e.step === 'reconnect_outcome')?.detail?.outcome, 'not_resumed_presence_available');
  t.is(s.lc.session(U)?.state, 'tracking');
});

test('flapping through RPID never purges a user with a flow open', async (t) => {
  const s = setup();
  await tracked(s, true);
  for (const names of [['sleeping'], ['working'], ['sleeping'], ['working']]) {
    s.clock.advance(300);
    s.notify([dev({ activities: [{ names, other: [] }] })]);
  }
  await s.lc.idle();
  t.is(s.decisions(), 4);
  t.false(s.calls.includes('store.purgeUser'));
  t.is(s.calls.filter((c) => c === 'presence.sendReconnect(app-a)').length, 4);
});
