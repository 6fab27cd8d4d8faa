/** The operator's entry points into the lifecycle (purgeNow, reconnectNow) and removable observers. */
import test from 'ava';
import { Lifecycle } from './lifecycle.ts';
import { FakePresence, FakeRoutes, ManualClock, MemoryLogger, MemoryStore } from './testing/fakes.ts';
import type { UserId } from './user-id.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const OTHER = '1b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f51' as UserId;
const servers = [{ name: 'app-a', host: '127.0.0.1', port: 1 }, { name: 'app-b', host: '127.0.0.1', port: 2 }];

function setup() {
  const calls: string[] = [];
  const clock = new ManualClock();
  const store = new MemoryStore(calls);
  const routes = new FakeRoutes(calls);
  const presence = new FakePresence(calls);
  const lc = new Lifecycle({ presence, store, routes, clock, log: new MemoryLogger(), appServers: servers, graceMs: 5000, reconnectWindowMs: 60000, stepTimeoutMs: 400, staleNotifyMs: 700000 });
  const steps: string[] = [];
  lc.observe((e) => steps.push(`${e.step}${e.ok ? '' : '!'}`));
  const track = async (appServer: string | null) => {
    lc.flowStarted({ id: 'f1', user: U, appServer, startedAt: clock.now() }, () => {});
    await lc.idle();
  };
  return { calls, clock, store, routes, presence, lc, steps, track };
}

test('purgeNow runs the teardown branch in the user queue and reports the rows purged', async (t) => {
  const { lc, calls, steps, store, track } = setup();
  await track('app-a');
  const r = await lc.purgeNow(U);
  t.true(r.ok);
  if (r.ok) t.is(r.value.users, 1);
  t.deepEqual(steps.slice(-5), ['identify', 'unsubscribe', 'unpublish', 'unregister', 'purge']);
  t.deepEqual(calls.slice(-4), ['presence.unsubscribe', 'presence.unpublish', 'presence.unregister', 'store.purgeUser']);
  t.is(lc.session(U), undefined);
  t.is(store.users.size, 0);
});

test('purgeNow and reconnectNow of an untracked user fail with USER_NOT_FOUND naming the field', async (t) => {
  const { lc } = setup();
  for (const r of [await lc.purgeNow(OTHER), await lc.reconnectNow(OTHER)]) {
    t.false(r.ok);
    if (!r.ok) t.like(r.errors[0], { code: 'USER_NOT_FOUND', path: 'uuid' });
  }
});

test('reconnectNow records a decision, sends the MESSAGE and pins the user; the stored state says reconnecting', async (t) => {
  const { lc, calls, steps, store, routes, clock, track } = setup();
  await track('app-b');
  const r = await lc.reconnectNow(U);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value, { user: U, appServer: 'app-b', createdAt: clock.now(), expiresAt: clock.now() + 60000 });
  t.deepEqual(steps.slice(-3), ['identify', 'route_update', 'reconnect_message']);
  t.deepEqual(calls.slice(-2), ['routes.pin(app-b)', 'presence.sendReconnect(app-b)']);
  t.is(store.decisions.at(-1)?.branch, 'reconnect');
  t.regex(store.decisions.at(-1)?.reason ?? '', /admin API/);
  t.true(routes.pinned.has(U));
  t.is(store.users.get(U)?.state, 'reconnecting');
  t.true((await lc.reconnectNow(U)).ok, 'a reconnecting user can be reconnected again');
});

test('reconnectNow refuses a user without a known server (UNKNOWN_APP_SERVER) or not tracking (ILLEGAL_TRANSITION)', async (t) => {
  const a = setup();
  await a.track(null);
  const r1 = await a.lc.reconnectNow(U);
  t.false(r1.ok);
  if (!r1.ok) t.is(r1.errors[0]?.code, 'UNKNOWN_APP_SERVER');
  const b = setup();
  b.presence.failing.add('register');
  await b.track('app-a');
  t.is(b.lc.session(U)?.state, 'degraded');
  const r2 = await b.lc.reconnectNow(U);
  t.false(r2.ok);
  if (!r2.ok) t.is(r2.errors[0]?.code, 'ILLEGAL_TRANSITION');
});

test('observe returns a function that removes the observer', async (t) => {
  const { lc, track } = setup();
  const seen: string[] = [];
  const off = lc.observe((e) => seen.push(e.step));
  await track('app-a');
  const n = seen.length;
  t.true(n > 0);
  off();
  await lc.purgeNow(U);
  t.is(seen.length, n);
});
