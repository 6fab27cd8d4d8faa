/**
 * The read-only queries of the operator's surface (src/store/queries.ts), on every backend of the shared suite:
 * keyset pages that neither skip nor repeat a row, filters, newest-first flows, the last decision, the stored pin,
 * and input refused with the field named. Registered by registerStoreSuite, so each backend runs them.
 */
import test from 'ava';
import type { UserId } from '../../src/core/user-id.ts';
import { openStore, type KnexFlowStore, type StoreConfig } from '../../src/store/index.ts';
import { T0, decision, flow, pin, rejectsStoreFailed, testLogger, uid, user } from './fixtures.ts';

type Case = [title: string, run: (t: import('ava').ExecutionContext, store: KnexFlowStore) => Promise<void>];

const CASES: Case[] = [
  [
    'listUsersPage pages through every user once, in (createdAt, user) order, filtered by state',
    async (t, store) => {
      const users = Array.from({ length: 7 }, uid);
      // Two users share each createdAt, so the cursor must break ties by user id.
      for (const [i, u] of users.entries()) await store.upsertUser(user(u, { createdAt: T0 + Math.floor(i / 2), state: i % 3 === 0 ? 'degraded' : 'tracking' }));
      const expected = users.map((u, i) => ({ u, c: T0 + Math.floor(i / 2) })).sort((a, b) => a.c - b.c || a.u.localeCompare(b.u));
      const seen: UserId[] = [];
      let after: { createdAt: number; user: UserId } | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const page: Awaited<ReturnType<KnexFlowStore['listUsersPage']>> = await store.listUsersPage({ limit: 3, state: null, after });
        seen.push(...page.map((r) => r.user));
        if (page.length < 3) break;
        const last = page.at(-1)!;
        after = { createdAt: last.createdAt, user: last.user };
      }
      t.deepEqual(seen, expected.map((e) => e.u));
      const degraded = await store.listUsersPage({ limit: 100, state: 'degraded', after: null });
      t.deepEqual(new Set(degraded.map((r) => r.user)), new Set(users.filter((_, i) => i % 3 === 0)));
      t.true(degraded.every((r) => r.state === 'degraded'));
      t.deepEqual(await store.listUsersPage({ limit: 5, state: 'reconnecting', after: null }), []);
    },
  ],
  [
    'listFlowsPage returns a user’s flows newest first, in pages, and nothing of other users',
    async (t, store) => {
      const [a, b] = [uid(), uid()];
      for (let i = 0; i < 5; i++) await store.insertFlow(flow(`a${i}`, a, { startedAt: T0 + Math.floor(i / 2) }));
      await store.insertFlow(flow('b0', b));
      const first = await store.listFlowsPage(a, { limit: 2, before: null });
      t.deepEqual(first.map((f) => f.id), ['a4', 'a3']);
      const last = first.at(-1)!;
      const second = await store.listFlowsPage(a, { limit: 10, before: { startedAt: last.startedAt, id: last.id } });
      t.deepEqual(second.map((f) => f.id), ['a2', 'a1', 'a0']);
      t.deepEqual(await store.listFlowsPage(uid(), { limit: 10, before: null }), []);
    },
  ],
  [
    'lastDecision and getPin read the latest decision and the stored pin, or null',
    async (t, store) => {
      const a = uid();
      t.is(await store.lastDecision(a), null);
      t.is(await store.getPin(a), null);
      await store.recordDecision(decision(a, { reason: 'first' }));
      await store.recordDecision(decision(a, { branch: 'reconnect', reason: 'second', decidedAt: T0 + 1 }));
      await store.savePin(pin(a));
      t.deepEqual(await store.lastDecision(a), decision(a, { branch: 'reconnect', reason: 'second', decidedAt: T0 + 1 }));
      t.deepEqual(await store.getPin(a), pin(a));
    },
  ],
  [
    'the queries refuse bad input with STORE_FAILED naming the field',
    async (t, store) => {
      await rejectsStoreFailed(t, store.listUsersPage({ limit: 0, state: null, after: null }), 'store.listUsersPage', 'limit');
      await rejectsStoreFailed(t, store.listUsersPage({ limit: 1, state: 'gone' as never, after: null }), 'state');
      await rejectsStoreFailed(t, store.listUsersPage({ limit: 1, state: null, after: { createdAt: -1, user: 'x' as UserId } }), 'after.createdAt', 'after.user');
      await rejectsStoreFailed(t, store.listFlowsPage('nope' as UserId, { limit: 1001, before: null }), 'store.listFlowsPage', 'user', 'limit');
      await rejectsStoreFailed(t, store.lastDecision('' as UserId), 'store.lastDecision', 'user');
      await rejectsStoreFailed(t, store.getPin('X' as UserId), 'store.getPin', 'user');
    },
  ],
];

/** registerQuerySuite registers every query case for a backend, each on a fresh database. */
export function registerQuerySuite(name: string, freshConfig: () => Promise<StoreConfig>): void {
  for (const [title, run] of CASES) {
    test(`${name}: ${title}`, async (t) => {
      const store = await openStore(await freshConfig(), testLogger());
      t.teardown(() => store.close());
      await run(t, store);
    });
  }
}
