/**
 * The store on a real SQLite file: the shared suite, plus what only SQLite has (WAL journal, per-connection
 * pragmas, one connection serialising writes, the file's directory created on open, other processes' locks).
 */
import test from 'ava';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import sqlite3 from 'sqlite3';
import type { Knex } from 'knex';
import type { UserId } from '../../src/core/user-id.ts';
import { openStore, createKnex, knexConfig, type StoreConfig } from '../../src/store/index.ts';
import { registerStoreSuite, testLogger, type StoreBackend } from './store-suite.ts';

let root = '';
let n = 0;
test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'presencelb-store-'));
});
test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const freshFile = () => path.join(root, `db-${++n}`, 'presencelb.db');

const sqlite: StoreBackend = {
  name: 'sqlite',
  freshConfig: async () => ({ client: 'sqlite3', filename: freshFile() }),
  // A directory cannot be opened as a database file: SQLITE_CANTOPEN.
  unreachableConfig: async () => ({ client: 'sqlite3', filename: root }),
  async listTables(db: Knex) {
    const rows: Array<{ name: string }> = await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`);
    return rows.map((r) => r.name).filter((t) => !t.startsWith('knex_'));
  },
  async failDeletesOn(db, table) {
    await db.raw(`CREATE TRIGGER plb_fail_delete_${table} BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, 'injected purge failure'); END`);
  },
  async allowDeletesOn(db, table) {
    await db.raw(`DROP TRIGGER plb_fail_delete_${table}`);
  },
};

registerStoreSuite(sqlite);

/** rawPragma reads a pragma through a bare sqlite3 connection that sets nothing itself. */
function rawPragma(filename: string, pragma: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(filename, sqlite3.OPEN_READONLY, (err) => {
      if (err) return reject(err);
      db.get(`PRAGMA ${pragma}`, (err2: Error | null, row: Record<string, unknown>) => {
        db.close();
        if (err2) reject(err2);
        else resolve(Object.values(row)[0]);
      });
    });
  });
}

test('sqlite: openStore creates the missing directory and leaves the file in WAL mode', async (t) => {
  const filename = path.join(root, 'nested', 'deeper', 'presencelb.db');
  const store = await openStore({ client: 'sqlite3', filename }, testLogger());
  t.teardown(() => store.close());
  t.true((await stat(filename)).isFile());
  t.is(await rawPragma(filename, 'journal_mode'), 'wal');
});

test('sqlite: every store connection has a busy timeout, foreign keys on, a 16 MiB page cache and a 10,000-page WAL', async (t) => {
  const cfg: StoreConfig = { client: 'sqlite3', filename: freshFile() };
  const store = await openStore(cfg, testLogger());
  const db = createKnex(cfg);
  t.teardown(async () => {
    await store.close();
    await db.destroy();
  });
  t.deepEqual(await db.raw('PRAGMA busy_timeout'), [{ timeout: 5000 }]);
  t.deepEqual(await db.raw('PRAGMA foreign_keys'), [{ foreign_keys: 1 }]);
  t.deepEqual(await db.raw('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
  t.deepEqual(await db.raw('PRAGMA cache_size'), [{ cache_size: -16384 }]);
  t.deepEqual(await db.raw('PRAGMA wal_autocheckpoint'), [{ wal_autocheckpoint: 10000 }]);
  t.like(knexConfig(cfg).pool, { min: 1, max: 1 });
});

test('sqlite: un-awaited writes apply in call order over the single connection', async (t) => {
  const store = await openStore({ client: 'sqlite3', filename: freshFile() }, testLogger());
  t.teardown(() => store.close());
  const u = randomUUID() as UserId;
  const states = ['registering', 'publishing', 'subscribing', 'tracking', 'deciding', 'reconnecting', 'tearing_down'] as const;
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    // Each flow is ended right after it is inserted, without waiting: out of order, endFlow would find no row.
    writes.push(store.insertFlow({ id: `f${i}`, user: u, appServer: null, startedAt: i, endedAt: null, endReason: null }));
    writes.push(store.endFlow(`f${i}`, i + 1, 'completed'));
    writes.push(store.upsertUser({ user: u, state: states[i % states.length]!, appServer: null, createdAt: 1, updatedAt: i, presence: null }));
  }
  await Promise.all(writes);
  t.like(await store.getUser(u), { state: states[199 % states.length], updatedAt: 199 });
  const flows = await store.flowsOverlapping(u, 0);
  t.is(flows.length, 200);
  t.deepEqual(flows.filter((f) => f.endReason !== 'completed').map((f) => f.id), [], 'every flow was ended');
});

test('sqlite: two stores (two connections) writing one file at once both succeed thanks to the busy timeout', async (t) => {
  const cfg: StoreConfig = { client: 'sqlite3', filename: freshFile() };
  const one = await openStore(cfg, testLogger());
  const two = await openStore(cfg, testLogger());
  t.teardown(async () => {
    await one.close();
    await two.close();
  });
  const u = randomUUID() as UserId;
  const burst = (store: typeof one, tag: string) =>
    Promise.all(
      Array.from({ length: 150 }, (_, i) => store.insertFlow({ id: `${tag}${i}`, user: u, appServer: null, startedAt: i, endedAt: null, endReason: null })),
    );
  await Promise.all([burst(one, 'a'), burst(two, 'b'), one.purgeUser(randomUUID() as UserId), two.closeOpenFlows(5, 'shutdown')]);
  t.is((await one.flowsOverlapping(u, 0)).length, 300);
});
