/** FlowRetention: flows past their retention are deleted in bounded statements; open and recent flows stay. */
import test from 'ava';
import type { FlowRecord } from '../core/ports.ts';
import { MemoryLogger, MemoryStore } from '../core/testing/fakes.ts';
import type { UserId } from '../core/user-id.ts';
import { pruneExpiredFlows, startFlowRetention } from './flow-retention.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const NOW = 10_000_000;
const flow = (id: string, endedAt: number | null): FlowRecord => ({ id, user: U, appServer: 'app-a', startedAt: 0, endedAt, endReason: endedAt === null ? null : 'completed' });

function seeded(): { store: MemoryStore; calls: number[] } {
  const store = new MemoryStore([]);
  for (let i = 0; i < 25; i++) store.flows.set(`old${i}`, flow(`old${i}`, NOW - 7_200_000 + i));
  store.flows.set('recent', flow('recent', NOW - 60_000));
  store.flows.set('open', flow('open', null));
  const calls: number[] = [];
  const prune = store.pruneFlows.bind(store);
  store.pruneFlows = async (before, limit) => {
    calls.push(limit);
    t0 = before;
    return prune(before, limit);
  };
  return { store, calls };
}
let t0 = 0;

test('deletes what ended before now - retention, batch by batch, and leaves open and recent flows', async (t) => {
  const { store, calls } = seeded();
  const n = await pruneExpiredFlows({ store, retentionMs: 3_600_000, now: () => NOW, log: new MemoryLogger(), batch: 10 });
  t.is(n, 25);
  t.deepEqual(calls, [10, 10, 10], 'three statements: 10, 10, then 5 (fewer than a batch: done)');
  t.is(t0, NOW - 3_600_000);
  t.deepEqual([...store.flows.keys()].sort(), ['open', 'recent']);
});

test('a run stops after maxBatches; the next run goes on', async (t) => {
  const { store } = seeded();
  const o = { store, retentionMs: 3_600_000, now: () => NOW, log: new MemoryLogger(), batch: 10, maxBatches: 1 };
  t.is(await pruneExpiredFlows(o), 10);
  t.is(await pruneExpiredFlows(o), 10);
  t.is(await pruneExpiredFlows(o), 5);
  t.is(await pruneExpiredFlows(o), 0);
});

test('stop() waits for a run in progress, so the store can be closed after it', async (t) => {
  const { store } = seeded();
  let inFlight = false;
  const prune = store.pruneFlows.bind(store);
  store.pruneFlows = async (b, l) => {
    inFlight = true;
    await new Promise((res) => setTimeout(res, 200));
    inFlight = false;
    return prune(b, l);
  };
  const r = startFlowRetention({ store, retentionMs: 3_600_000, now: () => NOW, log: new MemoryLogger(), intervalMs: 10 });
  while (!inFlight) await new Promise((res) => setTimeout(res, 5));
  await r.stop();
  t.false(inFlight, 'the run was over when stop() resolved');
});

test('the timer runs it and logs what it deleted; a store failure is logged and tried again next time', async (t) => {
  const { store } = seeded();
  const log = new MemoryLogger();
  let fail = true;
  const prune = store.pruneFlows.bind(store);
  store.pruneFlows = async (b, l) => {
    if (fail) {
      fail = false;
      throw new Error('database is locked');
    }
    return prune(b, l);
  };
  const r = startFlowRetention({ store, retentionMs: 3_600_000, now: () => NOW, log, intervalMs: 20 });
  try {
    for (let i = 0; i < 100 && !log.lines.some((l) => l.msg === 'flows past their retention deleted'); i++) await new Promise((res) => setTimeout(res, 20));
  } finally {
    await r.stop();
  }
  t.true(log.lines.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'STORE_FAILED'));
  const done = log.lines.find((l) => l.msg === 'flows past their retention deleted');
  t.like(done?.obj, { deleted: 25 });
  t.deepEqual([...store.flows.keys()].sort(), ['open', 'recent']);
});
