/**
 * WriteBehindStore on a real SQLite file and a real PostgreSQL server: flow writes leave the caller at once, are
 * folded and batched, and the store still behaves as if every write had been applied in call order.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isPlbError } from '../../src/core/errors.ts';
import { openStore, type KnexFlowStore, type StoreConfig } from '../../src/store/index.ts';
import type { StoreWrite } from '../../src/store/flow-writes.ts';
import { WriteBehindStore } from '../../src/store/write-behind.ts';
import { startPostgres, type PostgresServer } from '../harness/postgres.ts';
import { waitFor } from '../harness/ports.ts';
import { T0, flow, testLogger, uid, user } from './fixtures.ts';

let root = '';
let pg: PostgresServer | undefined;
let n = 0;
test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'plb-wb-'));
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Spy counts the batches the decorated store applies, and can make the next `failNext` batches fail. */
class Spy {
  batches: StoreWrite[][] = [];
  failNext = 0;
  wrap(inner: KnexFlowStore): KnexFlowStore {
    const apply = inner.applyWrites.bind(inner);
    inner.applyWrites = async (ops) => {
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('injected database failure');
      }
      this.batches.push([...ops]);
      return apply(ops);
    };
    return inner;
  }
}

const backends: Array<[string, () => Promise<StoreConfig>]> = [
  ['sqlite', async () => ({ client: 'sqlite3', filename: path.join(root, `db-${++n}`, 'p.db') })],
  ['postgres', async () => ({ client: 'pg', connection: await pg!.createDatabase() })],
];

async function env(cfg: () => Promise<StoreConfig>, flushMs = 20) {
  const log = testLogger();
  const spy = new Spy();
  const inner = spy.wrap(await openStore(await cfg(), log));
  const store = new WriteBehindStore(inner, { log, flushMs });
  return { store, inner, spy, log };
}

for (const [name, cfg] of backends) {
  test(`${name}: a flow's insert, upstream and end fold into one row written once; reads see queued writes`, async (t) => {
    const { store, spy } = await env(cfg);
    const u = uid();
    await store.insertFlow(flow('f1', u, { appServer: null, startedAt: T0 }));
    await store.setFlowAppServer('f1', 'app-b');
    await store.endFlow('f1', T0 + 50, 'completed');
    await store.endFlow('f1', T0 + 90, 'stream_error'); // first end wins
    t.is(store.pending, 1);
    const flows = await store.flowsOverlapping(u, T0);
    t.deepEqual(flows.map((f) => [f.id, f.appServer, f.endedAt, f.endReason]), [['f1', 'app-b', T0 + 50, 'completed']]);
    t.is(spy.batches.length, 1);
    t.is(spy.batches[0]!.length, 1);
    await store.close();
  });

  test(`${name}: writes after a batch was taken are applied after it, in order; purge sees everything before it`, async (t) => {
    const { store } = await env(cfg, 1);
    const u = uid();
    await store.upsertUser(user(u));
    await store.insertFlow(flow('f1', u, { startedAt: T0 }));
    await store.flush();
    await store.endFlow('f1', T0 + 5, 'completed');
    await store.insertFlow(flow('f2', u, { startedAt: T0 + 6 }));
    const counts = await store.purgeUser(u);
    t.is(counts.flows, 2);
    t.is(counts.users, 1);
    t.deepEqual(await store.flowsOverlapping(u, 0), []);
    await store.close();
  });

  test(`${name}: 500 decisions, pins and purges land in a few transactions, in call order; a user after the purge is a new row`, async (t) => {
    const { store, inner, spy } = await env(cfg, 10);
    const users = Array.from({ length: 500 }, uid);
    const purges: Promise<unknown>[] = [];
    for (const [i, u] of users.entries()) {
      void store.upsertUser(user(u));
      void store.insertFlow(flow(`d${i}`, u, { startedAt: T0 }));
      void store.recordDecision({ user: u, decidedAt: T0 + 1, notifySentAt: T0, branch: i % 2 ? 'reconnect' : 'teardown', appServer: i % 2 ? 'app-a' : null, reason: 'test' });
      if (i % 2) {
        void store.savePin({ user: u, appServer: 'app-a', createdAt: T0, expiresAt: T0 + 60000 });
        if (i % 4 === 1) void store.deletePin(u);
      } else {
        purges.push(store.purgeUser(u));
        // A new session of the same user, after the purge: written after it, not folded into the purged state.
        if (i % 10 === 0) void store.upsertUser(user(u, { createdAt: T0 + 99 }));
      }
    }
    const counts = (await Promise.all(purges)) as Array<Record<string, number>>;
    t.true(counts.every((c) => c.users === 1 && c.flows === 1 && c.decisions === 1), 'each purge deleted what was written before it');
    t.true(spy.batches.length <= 5, `${spy.batches.length} batches`);
    const pins = await store.listPins();
    t.is(pins.length, 125, 'saved pins, except those deleted after');
    const decisions = (await Promise.all(users.map((u) => inner.listDecisions(u)))).flat();
    t.is(decisions.length, 250, 'the reconnect decisions; the purged users have none');
    const reborn = (await Promise.all(users.filter((_, i) => i % 10 === 0).map((u) => store.getUser(u)))).filter((r) => r !== null);
    t.is(reborn.length, 50);
    t.true(reborn.every((r) => r!.createdAt === T0 + 99));
    await store.close();
  });

  test(`${name}: 3,000 flows from 300 users land in a few transactions, none lost`, async (t) => {
    const { store, spy } = await env(cfg, 10);
    const users = Array.from({ length: 300 }, uid);
    for (let i = 0; i < 3000; i++) {
      const u = users[i % users.length]!;
      void store.insertFlow(flow(`f${i}`, u, { startedAt: T0 + i }));
      if (i % 2 === 0) void store.endFlow(`f${i}`, T0 + i + 1, 'completed');
    }
    await store.flush();
    t.true(spy.batches.length <= 5, `${spy.batches.length} batches`);
    let rows = 0;
    let ended = 0;
    for (const u of users) {
      const fl = await store.flowsOverlapping(u, 0);
      rows += fl.length;
      ended += fl.filter((f) => f.endedAt !== null).length;
    }
    t.is(rows, 3000);
    t.is(ended, 1500);
    await store.close();
  });

  test(`${name}: a user's states fold into one queued upsert (latest state, first createdAt); batches group flow ends`, async (t) => {
    const { store, spy, inner } = await env(cfg, 1000);
    const direct: string[] = [];
    const upsert = inner.upsertUser.bind(inner);
    inner.upsertUser = async (r) => {
      direct.push(r.user);
      return upsert(r);
    };
    const [a, b] = [uid(), uid()];
    await store.upsertUser(user(a, { state: 'registering', createdAt: T0, updatedAt: T0 }));
    await store.insertFlow(flow('fa', a, { startedAt: T0 }));
    await store.upsertUser(user(a, { state: 'tracking', createdAt: T0 + 7, updatedAt: T0 + 9, presence: '{}' }));
    await store.upsertUser(user(b, { state: 'degraded' }));
    t.is(store.pending, 3, 'two users and one flow queued');
    t.deepEqual(await store.getUser(a), { ...user(a), state: 'tracking', createdAt: T0, updatedAt: T0 + 9, presence: '{}' });
    t.is((await store.getUser(b))?.state, 'degraded');
    t.deepEqual(direct, [], 'no user write goes to the database on its own');
    t.is(spy.batches.length, 1);
    // A later state of a user already stored keeps the stored createdAt; ends of flows already stored are grouped.
    for (let i = 0; i < 400; i++) void store.insertFlow(flow(`g${i}`, b, { startedAt: T0 + i }));
    await store.flush();
    for (let i = 0; i < 400; i++) void store.endFlow(`g${i}`, T0 + 1000 + i, i % 2 ? 'completed' : 'stream_error');
    void store.endFlow('g0', T0 + 5000, 'completed'); // first end wins, also within one batch
    void store.setFlowAppServer('g1', 'app-a');
    void store.setFlowAppServer('g1', 'app-b'); // last upstream wins
    await store.upsertUser(user(a, { state: 'reconnecting', createdAt: T0 + 99, updatedAt: T0 + 100 }));
    await store.flush();
    t.is(spy.batches.length, 3);
    const flows = await store.flowsOverlapping(b, 0);
    t.is(flows.filter((f) => f.endedAt !== null).length, 400);
    t.deepEqual(flows.find((f) => f.id === 'g0'), flow('g0', b, { startedAt: T0, endedAt: T0 + 1000, endReason: 'stream_error' }));
    t.deepEqual(flows.find((f) => f.id === 'g1'), flow('g1', b, { startedAt: T0 + 1, appServer: 'app-b', endedAt: T0 + 1001, endReason: 'completed' }));
    t.deepEqual(await store.getUser(a), { ...user(a), state: 'reconnecting', createdAt: T0, updatedAt: T0 + 100, presence: null });
    await t.throwsAsync(store.upsertUser(user(a, { state: 'nope' as never })), { message: /rec\.state/ });
    await store.close();
  });

  test(`${name}: a bad write is refused at once and never poisons a batch`, async (t) => {
    const { store } = await env(cfg);
    const u = uid();
    await store.insertFlow(flow('ok1', u, { startedAt: T0 }));
    const e = await t.throwsAsync(store.insertFlow(flow('', u, { startedAt: -1 })));
    t.true(isPlbError(e, 'STORE_FAILED'));
    t.regex(e!.message, /flow\.id/);
    await t.throwsAsync(store.endFlow('ok1', Number.NaN, 'completed'));
    t.is((await store.flowsOverlapping(u, 0)).length, 1);
    await store.close();
  });

  test(`${name}: when the database fails, writes stay queued and are applied once it recovers`, async (t) => {
    const { store, spy, log } = await env(cfg, 5);
    const u = uid();
    spy.failNext = 2;
    await store.insertFlow(flow('f1', u, { startedAt: T0 }));
    await t.throwsAsync(store.flush(), { message: /could not be applied|injected/ });
    t.is(store.pending, 1, 'nothing lost');
    await waitFor('the queued write to be retried and applied', () => store.pending === 0, 10000); // back-off retries
    t.is((await store.flowsOverlapping(u, 0)).length, 1);
    t.true(log.entries.some((l) => JSON.stringify(l).includes('flow writes not applied: retrying')));
    await store.close();
  });

  test(`${name}: concurrent flushes apply each write exactly once; close applies what is queued`, async (t) => {
    const { store, spy } = await env(cfg, 1000);
    const u = uid();
    for (let i = 0; i < 50; i++) void store.insertFlow(flow(`c${i}`, u, { startedAt: T0 + i }));
    await Promise.all(Array.from({ length: 10 }, () => store.flush()));
    t.is(spy.batches.flat().length, 50);
    for (let i = 50; i < 60; i++) void store.insertFlow(flow(`c${i}`, u, { startedAt: T0 + i }));
    await store.close();
    t.is(spy.batches.flat().length, 60, 'close applied the last 10');
  });
}
