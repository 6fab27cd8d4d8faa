/**
 * WriteBehindStore's timing, against a fake database: a batch of writes nobody waits for goes after lazyFlushMs, a
 * purge brings it forward to flushMs, and while the database fails, writes queued meanwhile do not bring the retry
 * forward (the back-off doubles from flushMs). By default flow writes wait a second, a user's state 100 ms, or until
 * MAX_BATCH writes are queued.
 */
import test from 'ava';
import type { FlowRecord, PurgeCounts } from '../core/ports.ts';
import { MemoryLogger } from '../core/testing/fakes.ts';
import type { UserId } from '../core/user-id.ts';
import type { StoreWrite } from './flow-writes.ts';
import { FLOW_FLUSH_MS, LAZY_FLUSH_MS, MAX_BATCH, WriteBehindStore } from './write-behind.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const flow = (): FlowRecord => ({ id: `0192aaaa-0000-7000-8000-${String(++n).padStart(12, '0')}`, user: U, appServer: 'app-a', startedAt: 1000, endedAt: null, endReason: null });

function fakeDb() {
  const db = {
    failing: false,
    batches: [] as Array<{ at: number; kinds: string[] }>,
    async applyWrites(ops: readonly StoreWrite[]): Promise<PurgeCounts[]> {
      db.batches.push({ at: Date.now(), kinds: ops.map((o) => o.kind) });
      if (db.failing) throw new Error('database is locked');
      return ops.filter((o) => o.kind === 'purge').map(() => ({ flows: 0 }));
    },
    async close() {},
  };
  return db;
}

test('a batch of flow writes waits flowFlushMs; a purge brings it forward to flushMs', async (t) => {
  const db = fakeDb();
  const store = new WriteBehindStore(db as never, { log: new MemoryLogger(), flushMs: 20, lazyFlushMs: 300, flowFlushMs: 300 });
  const t0 = Date.now();
  await store.insertFlow(flow());
  await sleep(100);
  t.is(db.batches.length, 0, 'nothing applied before flowFlushMs');
  await store.purgeUser(U);
  t.is(db.batches.length, 1);
  t.deepEqual(db.batches[0]!.kinds, ['insert', 'purge']);
  t.true(db.batches[0]!.at - t0 < 250, `applied ${db.batches[0]!.at - t0} ms after the first write, soon after the purge`);
  await store.insertFlow(flow());
  await sleep(150);
  t.is(db.batches.length, 1);
  await sleep(300);
  t.is(db.batches.length, 2, 'then after flowFlushMs');
  await store.close();
});

test('while the database fails, writes queued meanwhile do not bring the retry forward', async (t) => {
  const db = fakeDb();
  const log = new MemoryLogger();
  const store = new WriteBehindStore(db as never, { log, flushMs: 20, lazyFlushMs: 40, flowFlushMs: 40 });
  db.failing = true;
  const until = Date.now() + 1200;
  while (Date.now() < until) {
    await store.insertFlow(flow());
    await sleep(15);
  }
  // Tries at about 40 ms, then back-offs of 40, 80, 160, 320 and 640 ms: 5 or 6 in 1.2 s (each write brought the
  // retry forward before, and there were dozens).
  t.true(db.batches.length >= 3 && db.batches.length <= 7, `${db.batches.length} tries`);
  db.failing = false;
  await store.flush();
  t.is(store.pending, 0, 'nothing lost once the database is back');
  await store.close();
});

test('by default flow writes wait FLOW_FLUSH_MS (a second), a user\'s state LAZY_FLUSH_MS (100 ms), and MAX_BATCH (10,000) writes go at once', async (t) => {
  t.is(FLOW_FLUSH_MS, 1000);
  t.is(LAZY_FLUSH_MS, 100);
  t.is(MAX_BATCH, 10000);
  const db = fakeDb();
  const store = new WriteBehindStore(db as never, { log: new MemoryLogger() });
  const t0 = Date.now();
  await store.insertFlow(flow());
  await sleep(600);
  t.is(db.batches.length, 0, 'no flow applied 600 ms after it was queued');
  await sleep(900);
  t.is(db.batches.length, 1, 'applied within 1.5 s');
  t.true(db.batches[0]!.at - t0 >= FLOW_FLUSH_MS - 5, `applied ${db.batches[0]!.at - t0} ms after the first write`);

  // A user's state brings the queued flows' batch forward: what a restart restores waits 100 ms at most.
  await store.insertFlow(flow());
  const t1 = Date.now();
  await store.upsertUser({ user: U, state: 'tracking', appServer: 'app-a', createdAt: 1000, updatedAt: 1000, presence: null });
  await sleep(400);
  t.is(db.batches.length, 2);
  t.deepEqual(db.batches[1]!.kinds, ['insert', 'user']);
  t.true(db.batches[1]!.at - t1 < 350, `applied ${db.batches[1]!.at - t1} ms after the user's state`);

  for (let i = 0; i < MAX_BATCH; i++) void store.insertFlow(flow());
  await sleep(50);
  t.is(db.batches.length, 3, 'a full batch goes at once');
  t.is(db.batches[2]!.kinds.length, MAX_BATCH);
  await store.close();
});
