/**
 * A burst of new users against a real database: 10,000 users' first requests at once, through the lifecycle (the
 * presence server faked in process: the store is what is under test) and the write-behind store on a real SQLite
 * file (one connection) and a real PostgreSQL server. Every user and flow is stored, no write fails with
 * STORE_FAILED, and user states never go to the database one statement at a time: they are batched with the flow
 * writes.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Lifecycle } from '../../src/core/lifecycle.ts';
import { FakePresence, FakeRoutes, ManualClock } from '../../src/core/testing/fakes.ts';
import { openStore, type StoreConfig } from '../../src/store/index.ts';
import { WriteBehindStore } from '../../src/store/write-behind.ts';
import { startPostgres, type PostgresServer } from '../harness/postgres.ts';
import { testLogger, uid } from './fixtures.ts';

const USERS = 10_000;

let root = '';
let pg: PostgresServer | undefined;
test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'plb-burst-'));
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const backends: Array<[string, () => Promise<StoreConfig>]> = [
  ['sqlite', async () => ({ client: 'sqlite3', filename: path.join(root, 'burst', 'p.db') })],
  ['postgres', async () => ({ client: 'pg', connection: await pg!.createDatabase() })],
];

for (const [name, cfg] of backends) {
  test(`${name}: ${USERS} users arriving at once are all stored, tracked and granted, with no STORE_FAILED`, async (t) => {
    const log = testLogger();
    const inner = await openStore(await cfg(), log);
    let directUserWrites = 0;
    const upsert = inner.upsertUser.bind(inner);
    inner.upsertUser = (r) => {
      directUserWrites++;
      return upsert(r);
    };
    let batches = 0;
    const apply = inner.applyWrites.bind(inner);
    inner.applyWrites = (ops) => {
      batches++;
      return apply(ops);
    };
    const store = new WriteBehindStore(inner, { log });
    const clock = new ManualClock(Date.now());
    const lc = new Lifecycle({
      presence: new FakePresence([]),
      store,
      routes: new FakeRoutes([]),
      clock,
      log,
      appServers: [{ name: 'app-a', host: '127.0.0.1', port: 1 }],
      graceMs: 5000,
      reconnectWindowMs: 60000,
      stepTimeoutMs: 400,
      staleNotifyMs: 700000,
    });
    const users = Array.from({ length: USERS }, uid);
    let granted = 0;
    users.forEach((user, i) => lc.flowStarted({ id: `f${i}`, user, appServer: 'app-a', startedAt: clock.now() }, () => granted++));
    await lc.idle();
    await store.flush();
    t.is(granted, USERS);
    t.deepEqual(log.entries.filter((e) => JSON.stringify(e.obj).includes('STORE_FAILED')), []);
    t.is(directUserWrites, 0, 'user states are batched, never written one by one');
    t.true(batches < 100, `${batches} batches`);
    const stored = await store.listUsers();
    t.is(stored.length, USERS);
    t.true(stored.every((u) => u.state === 'tracking'));
    t.is((await store.flowsOverlapping(users[USERS - 1]!, 0)).length, 1);
    await store.close();
  });
}
