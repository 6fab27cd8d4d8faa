import test from 'ava';
import { Lifecycle } from './lifecycle.ts';
import type { PresenceNotification, PresenceTuple } from './ports.ts';
import { OWN_TUPLE_ID } from './presence.ts';
import { FakePresence, FakeRoutes, ManualClock, MemoryLogger, MemoryStore } from './testing/fakes.ts';
import type { UserId } from './user-id.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const servers = [{ name: 'app-a', host: '127.0.0.1', port: 1 }, { name: 'app-b', host: '127.0.0.1', port: 2 }];

function setup(over: { reconnectWindowMs?: number } = {}) {
  const calls: string[] = [];
  const access: string[] = [];
  const clock = new ManualClock();
  const presence = new FakePresence(calls);
  const store = new MemoryStore(calls);
  const routes = new FakeRoutes(calls);
  const log = new MemoryLogger();
  const lc = new Lifecycle({ presence, store, routes, clock, log, appServers: servers, graceMs: 5000, reconnectWindowMs: over.reconnectWindowMs ?? 60000, stepTimeoutMs: 400, staleNotifyMs: 700000, onAccess: (u, atOnce) => access.push(`${atOnce ? '+' : '-'}${u === U ? 'U' : u}`) });
  const steps: string[] = [];
  lc.observe((e) => steps.push(`${e.step}${e.ok ? '' : '!'}`));
  const grant = (name: string) => () => calls.push(`grant(${name})`);
  const notify = (tuples: PresenceTuple[] | null, extra: Partial<PresenceNotification> = {}) =>
    lc.onNotify({ user: U, sentAt: null, receivedAt: clock.now(), bodyError: null, subscription: { state: 'active', reason: null, expires: 600, retryAfter: null }, document: tuples && { entity: `sip:${U}@d`, tuples }, ...extra });
  const ownT: PresenceTuple = { id: OWN_TUPLE_ID, basic: 'open', note: 'app-a' };
  return { calls, access, clock, presence, store, routes, log, lc, steps, grant, notify, ownT };
}

test('first flow: register, notify, access, subscribe in that order; later flows are let through at once', async (t) => {
  const { lc, calls, steps, grant } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: 1 }, grant('f1'));
  lc.flowStarted({ id: 'f2', user: U, appServer: 'app-a', startedAt: 2 }, grant('f2'));
  t.deepEqual(calls, ['grant(f2)']);
  await lc.idle();
  t.deepEqual(calls, ['grant(f2)', 'store.insertFlow(f1)', 'presence.register', 'presence.publish(app-a)', 'grant(f1)', 'presence.subscribe', 'store.insertFlow(f2)']);
  t.deepEqual(steps, ['register', 'notify', 'provide_access', 'subscribe']);
  t.is(lc.session(U)?.state, 'tracking');
});

test('presence change while a flow is open: reconnect MESSAGE and route update, withdrawn after the window', async (t) => {
  const { lc, calls, steps, grant, notify, ownT, clock, store, routes } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-b', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  await lc.idle();
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.deepEqual(calls.slice(-2), ['routes.pin(app-b)', 'presence.sendReconnect(app-b)']);
  t.is(lc.session(U)?.state, 'reconnecting');
  t.is(store.decisions[0]?.branch, 'reconnect');
  t.is(store.pins.get(U)?.appServer, 'app-b');
  clock.advance(60000);
  await lc.idle();
  t.is(calls.at(-1), 'routes.unpin');
  t.false(routes.pinned.has(U));
  t.false(store.pins.has(U));
  t.is(lc.session(U)?.state, 'tracking');
  t.deepEqual(steps.slice(4), ['receive_notification', 'receive_notification', 'identify', 'route_update', 'reconnect_message', 'reconnect_outcome', 'route_withdrawn']);
});

test('presence change of an idle user: unsubscribe, unpublish, unregister, purge; next flow starts over', async (t) => {
  const { lc, calls, grant, notify, ownT, clock, store } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  lc.flowEnded('f1', U, clock.now() + 10, 'completed');
  notify([ownT]);
  await lc.idle();
  clock.advance(5011);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.deepEqual(calls.slice(-4), ['presence.unsubscribe', 'presence.unpublish', 'presence.unregister', 'store.purgeUser']);
  t.is(lc.session(U), undefined);
  t.is(store.flows.size, 0);
  t.is(store.users.size, 0);
  lc.flowStarted({ id: 'f2', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f2'));
  await lc.idle();
  t.deepEqual(calls.slice(-5), ['store.insertFlow(f2)', 'presence.register', 'presence.publish(app-a)', 'grant(f2)', 'presence.subscribe']);
});

test('onAccess: granted at once from tracked on, not from a decision that may tear down, nor while degraded', async (t) => {
  const { lc, access, calls, grant, notify, ownT, clock, presence } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  t.deepEqual(access, []);
  await lc.idle();
  t.deepEqual(access, ['+U'], 'tracked');
  notify([ownT]);
  await lc.idle();
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(lc.session(U)?.state, 'reconnecting');
  t.deepEqual(access, ['+U', '-U', '+U'], 'deciding, then reconnecting');
  lc.flowEnded('f1', U, clock.now(), 'completed');
  clock.advance(60000);
  await lc.idle();
  t.is(lc.session(U)?.state, 'tracking');
  t.deepEqual(access.length, 3, 'the window over: still granted at once');
  clock.advance(6000);
  notify([ownT, { id: 'dev', basic: 'open', note: null }]);
  await lc.idle();
  t.is(calls.at(-1), 'store.purgeUser');
  t.is(lc.session(U), undefined);
  t.deepEqual(access.slice(3), ['-U'], 'not in use: deciding, then torn down without being granted at once again');
  presence.failing.add('subscribe');
  lc.flowStarted({ id: 'f2', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f2'));
  await lc.idle();
  t.is(lc.session(U)?.state, 'degraded');
  t.deepEqual(access.slice(6), [], 'never tracked: never granted at once');
});

test('flowsSettled: the identifying step waits for the flow events the data path still holds', async (t) => {
  const clock = new ManualClock();
  const calls: string[] = [];
  let held: (() => void) | null = null;
  const lc = new Lifecycle({
    presence: new FakePresence(calls), store: new MemoryStore(calls), routes: new FakeRoutes(calls), clock, log: new MemoryLogger(),
    appServers: servers, graceMs: 5000, reconnectWindowMs: 60000, stepTimeoutMs: 400, staleNotifyMs: 700000,
    flowsSettled: async () => {
      held?.();
      held = null;
    },
  });
  const ownT: PresenceTuple = { id: OWN_TUPLE_ID, basic: 'open', note: 'app-a' };
  const notify = (tuples: PresenceTuple[]) => lc.onNotify({ user: U, sentAt: null, receivedAt: clock.now(), bodyError: null, subscription: { state: 'active', reason: null, expires: 600, retryAfter: null }, document: { entity: `sip:${U}@d`, tuples } });
  await lc.restore(); // from then on, decisions are read from the in-memory index, as in the app
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, () => undefined);
  await lc.idle();
  lc.flowEnded('f1', U, clock.now(), 'completed');
  notify([ownT]);
  await lc.idle();
  clock.advance(10000);
  // A flow of app-b started just before the NOTIFY, its start still held by the data path.
  held = () => lc.flowStarted({ id: 'f2', user: U, appServer: 'app-b', startedAt: clock.now() - 1 }, () => undefined);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(lc.session(U)?.state, 'reconnecting', 'the held flow was seen: in use');
  t.true(calls.includes('presence.sendReconnect(app-b)'));
});

test('flowsSettled: a teardown hears the data path settle after it stops granting at once, before it withdraws anything', async (t) => {
  const calls: string[] = [];
  const lc = new Lifecycle({
    presence: new FakePresence(calls), store: new MemoryStore(calls), routes: new FakeRoutes(calls), clock: new ManualClock(), log: new MemoryLogger(),
    appServers: servers, graceMs: 5000, reconnectWindowMs: 60000, stepTimeoutMs: 400, staleNotifyMs: 700000,
    onAccess: (_u, atOnce) => calls.push(`access(${atOnce})`),
    flowsSettled: async () => {
      calls.push('settled');
    },
  });
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: 1 }, () => undefined);
  await lc.idle();
  calls.length = 0;
  await lc.purgeNow(U);
  t.deepEqual(calls.slice(0, 3), ['access(false)', 'settled', 'presence.unsubscribe']);
});

test('a held flow the data path releases as a teardown begins (a span, or a start still open) is recorded and purged with the rest, and sets nobody up again; an unmarked one does', async (t) => {
  for (const kind of ['span', 'start', 'unmarked'] as const) {
    const held = kind !== 'unmarked';
    const clock = new ManualClock();
    const calls: string[] = [];
    const store = new MemoryStore(calls);
    let release: (() => void) | null = null;
    const lc = new Lifecycle({
      presence: new FakePresence(calls), store, routes: new FakeRoutes(calls), clock, log: new MemoryLogger(),
      appServers: servers, graceMs: 5000, reconnectWindowMs: 60000, stepTimeoutMs: 400, staleNotifyMs: 700000,
      // The data path hands over what it held for the user when the teardown asks, before it answers.
      flowsSettled: async () => {
        release?.();
        release = null;
      },
    });
    lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, () => undefined);
    await lc.idle();
    lc.flowEnded('f1', U, clock.now() + 1, 'completed');
    clock.advance(1000);
    const start = clock.now() - 900;
    release = () => {
      if (kind === 'start') lc.flowStarted({ id: 'h1', user: U, appServer: 'app-b', startedAt: start, held: true }, () => calls.push('granted(h1)'));
      else lc.flowRecorded(held ? { id: 'h1', user: U, appServer: 'app-b', startedAt: start, streams: 3, lastStartedAt: start + 500 } : { id: 'h1', user: U, appServer: 'app-b', startedAt: start }, start + 600, 'completed');
    };
    calls.length = 0;
    const purged = await lc.purgeNow(U);
    await lc.idle();
    t.true(purged.ok);
    if (kind === 'start') t.true(calls.includes('granted(h1)'), 'a held start was granted when it started: its grant is a no-op, called at once');
    if (held) {
      t.is(calls.filter((c) => c === 'store.insertFlow(h1)').length, 1, kind);
      t.true(calls.indexOf('store.insertFlow(h1)') < calls.indexOf('store.purgeUser'), calls.join(','));
      t.false(calls.includes('presence.register'), `set up again: ${calls.join(',')}`);
      t.is(lc.session(U), undefined);
      t.is(store.flows.size, 0, 'purged with the user\'s other rows');
    } else {
      t.true(calls.indexOf('presence.register') > calls.indexOf('store.purgeUser'), 'a flow not held is new use: the user is set up again');
      t.is(lc.session(U)?.state, 'tracking');
    }
  }
});

test('a change of presencelb’s own tuple only, an unparsable body, or an unknown presentity decides nothing', async (t) => {
  const { lc, calls, grant, notify, ownT, log } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: 1 }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  notify([{ ...ownT, note: 'app-b' }]);
  notify(null, { bodyError: 'not XML' });
  lc.onNotify({ user: '11111111-2222-4333-8444-555555555555' as UserId, sentAt: null, receivedAt: 1, bodyError: null, subscription: { state: 'active', reason: null, expires: 1, retryAfter: null }, document: null });
  await lc.idle();
  t.false(calls.some((c) => /sendReconnect|unsubscribe|purge/.test(c)));
  t.true(log.lines.some((l) => (l.obj as { code?: string }).code === 'NOTIFY_UNKNOWN_PRESENTITY'));
  t.is(lc.session(U)?.state, 'tracking');
});

test('presence server down: the request goes through, the user is degraded and retried after a back-off', async (t) => {
  const { lc, calls, presence, grant, clock, steps } = setup();
  presence.failing.add('register');
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: 1 }, grant('f1'));
  await lc.idle();
  t.true(calls.includes('grant(f1)'));
  t.is(lc.session(U)?.state, 'degraded');
  t.deepEqual(steps, ['register!']);
  lc.flowStarted({ id: 'f2', user: U, appServer: 'app-a', startedAt: 2 }, grant('f2'));
  await lc.idle();
  t.is(calls.filter((c) => c === 'presence.register').length, 1);
  presence.failing.delete('register');
  clock.advance(1000);
  lc.flowStarted({ id: 'f3', user: U, appServer: 'app-a', startedAt: 3 }, grant('f3'));
  await lc.idle();
  t.is(lc.session(U)?.state, 'tracking');
});

test('a slow presence server holds the first request no longer than stepTimeoutMs', async (t) => {
  const { lc, calls, presence, grant, clock } = setup();
  presence.holding.add('register');
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: 1 }, grant('f1'));
  await new Promise((r) => setTimeout(r, 10));
  t.false(calls.includes('grant(f1)'));
  clock.advance(400);
  t.true(calls.includes('grant(f1)'));
  presence.release('register');
  await lc.idle();
  t.is(calls.filter((c) => c === 'grant(f1)').length, 1);
  t.is(lc.session(U)?.state, 'tracking');
});

test('restore: open flows closed, users re-registered, a pin still in force keeps its remaining window', async (t) => {
  const { lc, calls, store, clock } = setup();
  const now = clock.now();
  await store.upsertUser({ user: U, state: 'reconnecting', appServer: 'app-a', createdAt: now - 10, updatedAt: now - 5, presence: null });
  await store.insertFlow({ id: 'f0', user: U, appServer: 'app-a', startedAt: now - 100, endedAt: null, endReason: null });
  await store.savePin({ user: U, appServer: 'app-a', createdAt: now - 10, expiresAt: now + 1000 });
  const pins = await lc.restore();
  await lc.idle();
  t.is(pins.length, 1);
  t.is(store.flows.get('f0')?.endReason, 'presencelb_restart');
  t.true(calls.includes('presence.subscribe'));
  t.is(lc.session(U)?.state, 'reconnecting');
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, () => {});
  clock.advance(1000);
  await lc.idle();
  t.is(lc.session(U)?.state, 'tracking', 'flows resumed within the window: reconnected');
});

test('reconnect window over, flows not resumed, presence says gone: the teardown branch runs', async (t) => {
  const { lc, calls, grant, notify, ownT, clock, steps, store } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  clock.advance(100);
  notify([ownT]);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  lc.flowEnded('f1', U, clock.now(), 'completed');
  clock.advance(60000);
  await lc.idle();
  t.true(steps.includes('reconnect_outcome!'), steps.join(','));
  t.deepEqual(calls.slice(-5), ['routes.unpin', 'presence.unsubscribe', 'presence.unpublish', 'presence.unregister', 'store.purgeUser']);
  t.is(lc.session(U), undefined);
  t.is(store.users.size, 0);
});

test('a stream that joins a span begun before the reconnect window counts as resumed (the span\'s latest start)', async (t) => {
  // A window shorter than the index's retention, so the in-memory index (which holds spans) answers at its end.
  const { lc, notify, ownT, clock, steps } = setup({ reconnectWindowMs: 20000 });
  await lc.restore(); // the index answers once the store's state is restored
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, () => {});
  await lc.idle();
  lc.flowEnded('f1', U, clock.now() + 10, 'completed');
  lc.flowRecorded({ id: 'r1', user: U, appServer: 'app-a', startedAt: clock.now() + 20 }, clock.now() + 50, 'completed');
  clock.advance(100);
  notify([ownT]);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(lc.session(U)?.state, 'reconnecting');
  clock.advance(1000);
  // 1 s after r1 ended, within graceMs: r2 joins r1's span, which began before the window.
  lc.flowRecorded({ id: 'r2', user: U, appServer: 'app-a', startedAt: clock.now() }, clock.now() + 10, 'completed');
  clock.advance(20000);
  await lc.idle();
  t.true(steps.includes('reconnect_outcome'), steps.join(','));
  t.is(lc.session(U)?.state, 'tracking', 'reconnected, not torn down');
});

test('reconnect window over, flows not resumed, presence available: route withdrawn, user still tracked', async (t) => {
  const { lc, calls, grant, notify, ownT, clock } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  notify([ownT, { id: 'dev', basic: 'open', note: 'back' }]);
  await lc.idle();
  lc.flowEnded('f1', U, clock.now(), 'completed');
  clock.advance(60000);
  await lc.idle();
  t.is(calls.at(-1), 'routes.unpin');
  t.is(lc.session(U)?.state, 'tracking');
});

const terminations: Array<[string, boolean]> = [
  ['rejected', true], ['noresource', true], ['invariant', true],
  ['deactivated', false], ['timeout', false], ['probation', false], ['giveup', false],
];
for (const [reason, tearsDown] of terminations) {
  test(`NOTIFY terminated;reason=${reason} ${tearsDown ? 'tears the user down, even while active' : 'is left to the adapter’s re-subscribe'}`, async (t) => {
    const { lc, calls, grant, notify, ownT, clock } = setup();
    lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
    await lc.idle();
    notify([ownT, { id: 'dev', basic: 'open', note: null }]);
    await lc.idle();
    notify(null, { subscription: { state: 'terminated', reason, expires: null, retryAfter: 5 } });
    await lc.idle();
    t.is(calls.includes('store.purgeUser'), tearsDown);
    t.is(lc.session(U)?.state, tearsDown ? undefined : 'tracking');
    if (!tearsDown) {
      // After the adapter re-subscribed, its first NOTIFY is compared with what was seen before the termination.
      notify([ownT, { id: 'dev', basic: 'open', note: null }]);
      await lc.idle();
      t.false(calls.includes('presence.sendReconnect(app-a)'), 'unchanged presence: no decision');
    }
  });
}

test('a lost subscription is decided at once with the stored flows; an active user is re-subscribed', async (t) => {
  const { lc, calls, grant, notify, ownT, clock } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-b', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  await lc.idle();
  lc.onSubscriptionLost(U, 'refresh failed');
  await lc.idle();
  t.deepEqual(calls.slice(-3), ['routes.pin(app-b)', 'presence.sendReconnect(app-b)', 'presence.subscribe']);
});

test('sweep decides for silent subscriptions, but never while the presence server is unreachable', async (t) => {
  const { lc, calls, grant, notify, ownT, clock, presence } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  lc.flowEnded('f1', U, clock.now(), 'completed');
  await lc.idle();
  clock.advance(700001);
  presence.connected = false;
  t.is(lc.sweep(), 0);
  await lc.idle();
  t.false(calls.includes('store.purgeUser'), 'an outage purges nobody');
  presence.connected = true;
  t.is(lc.sweep(), 1);
  await lc.idle();
  t.true(calls.includes('store.purgeUser'), 'an idle user with a dead subscription is released');
  t.is(lc.sweep(), 0);
});

test('flapping presence (closed, open, closed) never purges an active user', async (t) => {
  const { lc, calls, grant, notify, ownT, clock } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  for (const basic of ['closed', 'open', 'closed'] as const) {
    clock.advance(300);
    notify([ownT, { id: 'dev', basic, note: null }]);
  }
  await lc.idle();
  t.false(calls.includes('store.purgeUser'));
  t.is(calls.filter((c) => c === 'presence.sendReconnect(app-a)').length, 3);
  t.is(lc.session(U)?.state, 'reconnecting');
});

test('a tracked user with nothing queued: the flow is granted and recorded synchronously, without the queue', async (t) => {
  const { lc, calls, grant, store, clock } = setup();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-a', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  const before = calls.length;
  lc.flowStarted({ id: 'f2', user: U, appServer: 'app-b', startedAt: clock.now() }, grant('f2'));
  lc.flowUpstream('f2', U, 'app-a');
  lc.flowEnded('f2', U, clock.now() + 5, 'completed');
  t.deepEqual(calls.slice(before), ['grant(f2)', 'store.insertFlow(f2)'], 'before any await');
  t.deepEqual(store.flows.get('f2'), { id: 'f2', user: U, appServer: 'app-a', startedAt: clock.now(), endedAt: clock.now() + 5, endReason: 'completed' });
  t.is(lc.session(U)?.appServer, 'app-a');
});

test('after restore, the identifying step reads the in-memory flow index, not the store', async (t) => {
  const { lc, calls, grant, notify, ownT, clock, store } = setup();
  await lc.restore();
  lc.flowStarted({ id: 'f1', user: U, appServer: 'app-b', startedAt: clock.now() }, grant('f1'));
  await lc.idle();
  notify([ownT]);
  await lc.idle();
  // A store that cannot answer any more: the decision is taken all the same, from the flows seen.
  store.flowsOverlapping = async () => {
    throw new Error('database unreachable');
  };
  clock.advance(6000); // past graceMs after the restore: the index has seen every flow of the window
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(store.decisions.at(-1)?.branch, 'reconnect');
  t.deepEqual(calls.slice(-2), ['routes.pin(app-b)', 'presence.sendReconnect(app-b)']);
});

test('a flow reported whole (flowRecorded): a new user is set up by it; a tracked user’s is one synchronous row, which the decision reads', async (t) => {
  const { lc, calls, steps, store, clock, notify, ownT } = setup();
  await lc.restore();
  lc.flowRecorded({ id: 'w1', user: U, appServer: 'app-a', startedAt: clock.now() }, clock.now() + 3, 'completed');
  await lc.idle();
  t.deepEqual(steps, ['register', 'notify', 'provide_access', 'subscribe'], 'the claim’s steps, after the access the log reported');
  t.like(store.flows.get('w1'), { endedAt: clock.now() + 3, endReason: 'completed' });
  notify([ownT]);
  await lc.idle();

  clock.advance(10000); // w1 is past graceMs
  const before = calls.length;
  lc.flowRecorded({ id: 'w2', user: U, appServer: 'app-b', startedAt: clock.now() - 20 }, clock.now() - 10, 'completed');
  t.deepEqual(calls.slice(before), ['store.insertFlow(w2)'], 'one row, before any await');
  t.deepEqual(store.flows.get('w2'), { id: 'w2', user: U, appServer: 'app-b', startedAt: clock.now() - 20, endedAt: clock.now() - 10, endReason: 'completed' });
  t.is(lc.session(U)?.appServer, 'app-b');
  clock.advance(1000);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(store.decisions.at(-1)?.branch, 'reconnect', 'w2 ended within graceMs of the NOTIFY');
  t.is(calls.at(-1), 'presence.sendReconnect(app-b)');
});

test('a span the data path folded (flowRecorded with streams): one row with its streams and latest start, read by the decision', async (t) => {
  const { lc, calls, store, clock, notify, ownT } = setup();
  await lc.restore();
  lc.flowRecorded({ id: 'w1', user: U, appServer: 'app-a', startedAt: clock.now() }, clock.now() + 3, 'completed');
  await lc.idle();
  notify([ownT]);
  await lc.idle();
  clock.advance(20000);
  const before = calls.length;
  const start = clock.now() - 9000;
  lc.flowRecorded({ id: 's1', user: U, appServer: 'app-b', startedAt: start, streams: 4, lastStartedAt: start + 8000 }, start + 8500, 'completed');
  t.deepEqual(calls.slice(before), ['store.insertFlow(s1)']);
  t.deepEqual(store.flows.get('s1'), { id: 's1', user: U, appServer: 'app-b', startedAt: start, endedAt: start + 8500, endReason: 'completed', streams: 4, lastStartedAt: start + 8000 });
  clock.advance(1000);
  notify([ownT, { id: 'dev', basic: 'closed', note: null }]);
  await lc.idle();
  t.is(store.decisions.at(-1)?.branch, 'reconnect', 'the span ended within graceMs of the NOTIFY');
  t.is(calls.at(-1), 'presence.sendReconnect(app-b)');
});
