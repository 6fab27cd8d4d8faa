/**
 * The store's shared, table-driven integration suite. Every case runs against every backend (a real SQLite file,
 * a real PostgreSQL server); each case gets its own fresh database, so cases run concurrently. A backend supplies
 * only what differs by dialect: where a fresh database comes from, an unreachable one, how to list tables and how
 * to make DELETEs on a table fail (a trigger), used to prove the purge is atomic.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import type { FlowRecord, Logger } from '../../src/core/ports.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { openStore, migrateLatest, createKnex, USER_TABLES, MIGRATIONS, type KnexFlowStore, type StoreConfig } from '../../src/store/index.ts';
import { T0, decision, flow, pin, rejectsStoreFailed, rowsAbout, seedUser, testLogger, uid, user, type LogEntry } from './fixtures.ts';

import { registerQuerySuite } from './queries-suite.ts';
export { testLogger } from './fixtures.ts';

/** StoreBackend is one database the suite runs against. */
export interface StoreBackend {
  readonly name: string;
  /** freshConfig returns the store config of a new, empty database. */
  freshConfig(): Promise<StoreConfig>;
  /** unreachableConfig returns a config whose database cannot be opened (closed port, unopenable file). */
  unreachableConfig(): Promise<StoreConfig>;
  /** listTables lists the tables of the database, knex's own migration tables excluded. */
  listTables(db: Knex): Promise<string[]>;
  /** failDeletesOn makes every DELETE on table fail with the message 'injected purge failure'. */
  failDeletesOn(db: Knex, table: string): Promise<void>;
  /** allowDeletesOn undoes failDeletesOn. */
  allowDeletesOn(db: Knex, table: string): Promise<void>;
}

/** Env is one case's fresh database: the store under test and a second, independent handle for inspection. */
interface Env {
  readonly cfg: StoreConfig;
  readonly store: KnexFlowStore;
  /** admin is a separate knex instance on the same database, to look at rows and install faults. */
  readonly admin: Knex;
  readonly log: Logger & { entries: LogEntry[] };
}

/** EXPECTED_SCHEMA is the schema both dialects must have: every column and whether it accepts NULL. */
const EXPECTED_SCHEMA: Record<string, Record<string, boolean>> = {
  users: { user_id: false, state: false, app_server: true, created_at: false, updated_at: false, presence: true },
  flows: { id: false, user_id: false, app_server: true, started_at: false, ended_at: true, end_reason: true, streams: false, last_started_at: true },
  decisions: { id: false, user_id: false, decided_at: false, notify_sent_at: false, branch: false, app_server: true, reason: false },
  pins: { user_id: false, app_server: false, created_at: false, expires_at: false },
};
const TIME_COLUMNS = ['created_at', 'updated_at', 'started_at', 'ended_at', 'decided_at', 'notify_sent_at', 'expires_at'];

interface Case {
  readonly title: string;
  run(t: ExecutionContext, env: Env, backend: StoreBackend): Promise<void>;
}

const CASES: Case[] = [
  {
    title: 'upsertUser inserts, updates in place keeping createdAt; getUser and listUsers read it back',
    async run(t, { store }) {
      const [a, b] = [uid(), uid()];
      t.is(await store.getUser(a), null);
      await store.upsertUser(user(b, { createdAt: T0 + 5, updatedAt: T0 + 5 }));
      await store.upsertUser(user(a, { state: 'registering', appServer: null }));
      t.deepEqual(await store.getUser(a), user(a, { state: 'registering', appServer: null }));
      const later = user(a, { state: 'tracking', appServer: 'app-b', createdAt: T0 + 999, updatedAt: T0 + 50, presence: '{"tuples":[]}' });
      await store.upsertUser(later);
      t.deepEqual(await store.getUser(a), { ...later, createdAt: T0 });
      t.deepEqual(
        (await store.listUsers()).map((r) => r.user),
        [a, b],
        'oldest first',
      );
    },
  },
  {
    title: 'insertFlow, setFlowAppServer and endFlow (first end wins; unknown ids change nothing)',
    async run(t, { store }) {
      const a = uid();
      await store.insertFlow(flow('f1', a));
      await store.setFlowAppServer('f1', 'app-a');
      t.deepEqual(await store.flowsOverlapping(a, T0), [flow('f1', a, { appServer: 'app-a' })]);
      await store.endFlow('f1', T0 + 10, 'completed');
      await store.endFlow('f1', T0 + 99, 'stream_error');
      await store.setFlowAppServer('no-such-flow', 'app-b');
      await store.endFlow('no-such-flow', T0, 'completed');
      t.deepEqual(await store.flowsOverlapping(a, 0), [flow('f1', a, { appServer: 'app-a', endedAt: T0 + 10, endReason: 'completed' })]);
    },
  },
  {
    title: 'flowsOverlapping: ended exactly at since and later are in, ended before is out, open is in, other users are out',
    async run(t, { store }) {
      const [a, b] = [uid(), uid()];
      const since = T0 + 1000;
      const rows: FlowRecord[] = [
        flow('open-late', a, { startedAt: since + 50 }),
        flow('ended-before', a, { startedAt: T0, endedAt: since - 1, endReason: 'completed' }),
        flow('ended-at', a, { startedAt: T0 + 10, endedAt: since, endReason: 'completed' }),
        flow('ended-after', a, { startedAt: T0 + 20, endedAt: since + 1, endReason: 'stream_error' }),
        flow('open-early', a, { startedAt: T0 - 5000 }),
        flow('other-open', b, { startedAt: T0 }),
        flow('other-ended-after', b, { startedAt: T0, endedAt: since + 5, endReason: 'completed' }),
      ];
      for (const f of rows) await store.insertFlow(f);
      t.deepEqual(
        (await store.flowsOverlapping(a, since)).map((f) => f.id),
        ['open-early', 'ended-at', 'ended-after', 'open-late'],
        'ordered by startedAt',
      );
      t.deepEqual(
        (await store.flowsOverlapping(a, since + 1)).map((f) => f.id),
        ['open-early', 'ended-after', 'open-late'],
      );
      t.deepEqual(await store.flowsOverlapping(uid(), 0), []);
    },
  },
  {
    title: 'closeOpenFlows ends every open flow of every user and only those, and reports how many',
    async run(t, { store }) {
      const [a, b] = [uid(), uid()];
      await store.insertFlow(flow('a1', a));
      await store.insertFlow(flow('a2', a, { startedAt: T0 + 1 }));
      await store.insertFlow(flow('b1', b));
      await store.insertFlow(flow('a-done', a, { startedAt: T0 + 2, endedAt: T0 + 3, endReason: 'completed' }));
      t.is(await store.closeOpenFlows(T0 + 500, 'presencelb_restart'), 3);
      t.deepEqual(
        (await store.flowsOverlapping(a, 0)).map((f) => [f.id, f.endedAt, f.endReason]),
        [
          ['a1', T0 + 500, 'presencelb_restart'],
          ['a2', T0 + 500, 'presencelb_restart'],
          ['a-done', T0 + 3, 'completed'],
        ],
      );
      t.deepEqual((await store.flowsOverlapping(b, 0)).map((f) => f.endReason), ['presencelb_restart']);
      t.is(await store.closeOpenFlows(T0 + 900, 'shutdown'), 0);
    },
  },
  {
    title: 'pruneFlows deletes flows that ended before the instant, oldest end first, at most limit; open flows stay; bad input is refused',
    async run(t, { store }) {
      const [a, b] = [uid(), uid()];
      await store.insertFlow(flow('old-open', a, { startedAt: T0 }));
      await store.insertFlow(flow('old-1', a, { startedAt: T0, endedAt: T0 + 10, endReason: 'completed' }));
      await store.insertFlow(flow('old-2', b, { startedAt: T0, endedAt: T0 + 20, endReason: 'stream_error' }));
      await store.insertFlow(flow('old-3', a, { startedAt: T0 + 1, endedAt: T0 + 30, endReason: 'completed' }));
      await store.insertFlow(flow('at-cutoff', b, { startedAt: T0 + 1, endedAt: T0 + 100, endReason: 'completed' }));
      t.is(await store.pruneFlows(T0 + 100, 2), 2, 'limit');
      t.deepEqual((await store.flowsOverlapping(a, 0)).map((f) => f.id), ['old-open', 'old-3'], 'the two oldest ends went first');
      t.is(await store.pruneFlows(T0 + 100, 100), 1);
      t.is(await store.pruneFlows(T0 + 100, 100), 0);
      t.deepEqual((await store.flowsOverlapping(a, 0)).map((f) => f.id), ['old-open']);
      t.deepEqual((await store.flowsOverlapping(b, 0)).map((f) => f.id), ['at-cutoff'], 'ended at the instant: kept');
      await rejectsStoreFailed(t, store.pruneFlows(T0, 0), 'store.pruneFlows', 'limit');
      await rejectsStoreFailed(t, store.pruneFlows(Number.NaN, 10), 'store.pruneFlows', 'endedBefore');
      t.is(await store.pruneFlows(T0 + 1000, 100), 1, 'nothing was lost by the refused calls');
    },
  },
  {
    title: 'recordDecision appends; savePin replaces; deletePin removes (and tolerates none); listPins reads all',
    async run(t, { store }) {
      const [a, b] = [uid(), uid()];
      await store.recordDecision(decision(a, { branch: 'reconnect', appServer: 'app-b', reason: 'flow in use' }));
      await store.recordDecision(decision(a, { appServer: null }));
      t.deepEqual(await store.listDecisions(a), [
        decision(a, { branch: 'reconnect', appServer: 'app-b', reason: 'flow in use' }),
        decision(a, { appServer: null }),
      ]);
      t.deepEqual(await store.listDecisions(b), []);
      await store.savePin(pin(a));
      await store.savePin(pin(b));
      await store.savePin(pin(a, { appServer: 'app-a', createdAt: T0 + 1, expiresAt: T0 + 2 }));
      const pins = await store.listPins();
      t.deepEqual(
        pins.sort((x, y) => x.user.localeCompare(y.user)),
        [pin(a, { appServer: 'app-a', createdAt: T0 + 1, expiresAt: T0 + 2 }), pin(b)].sort((x, y) => x.user.localeCompare(y.user)),
      );
      await store.deletePin(a);
      await store.deletePin(a);
      t.deepEqual(await store.listPins(), [pin(b)]);
    },
  },
  {
    title: 'purgeUser removes every row about the user from every table and nothing about another user',
    async run(t, { store, admin }, backend) {
      const [a, b] = [uid(), uid()];
      await seedUser(store, a);
      await seedUser(store, b);
      const tables = await backend.listTables(admin);
      t.deepEqual([...tables].sort(), [...USER_TABLES].sort(), 'every table with user data is purged');
      const before = await rowsAbout(admin, tables, b);
      t.deepEqual(await store.purgeUser(a), { pins: 1, decisions: 2, flows: 2, users: 1 });
      t.deepEqual(await rowsAbout(admin, tables, a), { pins: 0, decisions: 0, flows: 0, users: 0 });
      t.deepEqual(await rowsAbout(admin, tables, b), before);
      t.deepEqual(before, { pins: 1, decisions: 2, flows: 2, users: 1 });
      t.deepEqual(await store.purgeUser(a), { pins: 0, decisions: 0, flows: 0, users: 0 }, 'purging again finds nothing');
    },
  },
  {
    title: 'purgeUser is atomic: a failure on the last table rolls back the deletes already made',
    async run(t, { store, admin }, backend) {
      const a = uid();
      await seedUser(store, a);
      const before = await rowsAbout(admin, USER_TABLES, a);
      const last = USER_TABLES[USER_TABLES.length - 1]!;
      await backend.failDeletesOn(admin, last);
      const e = await rejectsStoreFailed(t, store.purgeUser(a), 'store.purgeUser', 'injected purge failure');
      t.truthy(e.cause, 'the driver error is kept as cause');
      t.deepEqual(await rowsAbout(admin, USER_TABLES, a), before, 'nothing was deleted');
      t.deepEqual(before, { pins: 1, decisions: 2, flows: 2, users: 1 });
      await backend.allowDeletesOn(admin, last);
      t.deepEqual(await store.purgeUser(a), before, 'the same purge succeeds once the fault is gone');
    },
  },
  {
    title: 'bad input is refused with a message naming the field, and leaves existing rows as they were',
    async run(t, { store }) {
      const a = uid();
      await store.insertFlow(flow('f1', a, { appServer: 'app-a' }));
      await store.upsertUser(user(a));
      const flowsBefore = await store.flowsOverlapping(a, 0);
      await rejectsStoreFailed(t, store.insertFlow(flow('', a)), 'store.insertFlow', 'flow.id');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', '' as UserId)), 'store.insertFlow', 'flow.user');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', a.toUpperCase() as UserId)), 'flow.user', 'lower-case');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', a, { startedAt: 1.5 })), 'flow.startedAt');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', a, { startedAt: Number.NaN })), 'flow.startedAt');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', a, { startedAt: 2 ** 53 })), 'flow.startedAt');
      await rejectsStoreFailed(t, store.insertFlow(flow('f2', a, { endedAt: T0 })), 'flow.endReason');
      await rejectsStoreFailed(t, store.insertFlow(null as unknown as FlowRecord), 'store.insertFlow', 'flow: must be an object');
      const dup = await rejectsStoreFailed(t, store.insertFlow(flow('f1', a, { appServer: 'app-b', startedAt: T0 + 7 })), 'store.insertFlow');
      t.regex(dup.message, /unique|duplicate/i, 'the duplicate key is named');
      await rejectsStoreFailed(t, store.endFlow('', T0, 'completed'), 'store.endFlow', 'flowId');
      await rejectsStoreFailed(t, store.endFlow('f1', T0, 'bogus' as never), 'store.endFlow', 'reason');
      await rejectsStoreFailed(t, store.setFlowAppServer('f1', ''), 'store.setFlowAppServer', 'appServer');
      await rejectsStoreFailed(t, store.upsertUser(user(a, { state: 'gone' as never })), 'store.upsertUser', 'rec.state');
      await rejectsStoreFailed(t, store.recordDecision(decision(a, { branch: 'maybe' as never })), 'store.recordDecision', 'd.branch');
      await rejectsStoreFailed(t, store.savePin(pin('nope' as UserId)), 'store.savePin', 'pin.user');
      await rejectsStoreFailed(t, store.purgeUser('' as UserId), 'store.purgeUser', 'user');
      await rejectsStoreFailed(t, store.flowsOverlapping(a, -1), 'store.flowsOverlapping', 'since');
      t.deepEqual(await store.flowsOverlapping(a, 0), flowsBefore);
      t.deepEqual(await store.getUser(a), user(a));
      t.deepEqual(await store.listDecisions(a), []);
      t.deepEqual(await store.listPins(), []);
    },
  },
  {
    title: 'bigint times round-trip as numbers, above 2^31 and up to Number.MAX_SAFE_INTEGER',
    async run(t, { store, admin }) {
      const a = uid();
      const times = [2 ** 31 + 1, 2 ** 32 + 7, T0, Number.MAX_SAFE_INTEGER];
      for (const [i, at] of times.entries()) await store.insertFlow(flow(`f${i}`, a, { startedAt: at, endedAt: at, endReason: 'completed' }));
      const got = await store.flowsOverlapping(a, 0);
      t.deepEqual(
        got.map((f) => [f.startedAt, f.endedAt]),
        times.map((x) => [x, x]),
      );
      t.true(got.every((f) => typeof f.startedAt === 'number' && typeof f.endedAt === 'number'));
      const big = Number.MAX_SAFE_INTEGER;
      await store.upsertUser(user(a, { createdAt: big - 1, updatedAt: big }));
      await store.recordDecision(decision(a, { decidedAt: big, notifySentAt: big - 2 }));
      await store.savePin(pin(a, { createdAt: 2 ** 40, expiresAt: big }));
      t.deepEqual(await store.getUser(a), user(a, { createdAt: big - 1, updatedAt: big }));
      t.deepEqual(await store.listDecisions(a), [decision(a, { decidedAt: big, notifySentAt: big - 2 })]);
      t.deepEqual(await store.listPins(), [pin(a, { createdAt: 2 ** 40, expiresAt: big })]);
      const [raw] = await admin('flows').where('id', 'f3').select('started_at');
      t.is(String(raw?.started_at), String(big), 'the database holds the exact value');
    },
  },
  {
    title: 'the schema is the same on every dialect: tables, columns, nullability, bigint times',
    async run(t, { admin }, backend) {
      t.deepEqual((await backend.listTables(admin)).sort(), Object.keys(EXPECTED_SCHEMA).sort());
      for (const [table, columns] of Object.entries(EXPECTED_SCHEMA)) {
        const info = await admin(table).columnInfo();
        t.deepEqual(
          Object.fromEntries(Object.entries(info).map(([c, i]) => [c, i.nullable])),
          columns,
          `${table} columns and nullability`,
        );
        for (const [c, i] of Object.entries(info)) {
          if (TIME_COLUMNS.includes(c)) t.is(i.type, 'bigint', `${table}.${c} is bigint`);
        }
      }
    },
  },
  {
    title: 'migrations are idempotent: migrateLatest and a second openStore on the same database apply nothing',
    async run(t, { cfg, store, admin, log }) {
      const a = uid();
      await store.upsertUser(user(a));
      t.deepEqual(await migrateLatest(cfg, log), { batch: 1, applied: [] });
      const again = await openStore(cfg, log);
      t.teardown(() => again.close());
      t.deepEqual(await again.getUser(a), user(a), 'the data survived');
      const done = await admin('knex_migrations').select('name').orderBy('id');
      t.deepEqual(
        done.map((r: { name: string }) => r.name),
        MIGRATIONS.map((m) => m.name),
      );
    },
  },
  {
    title: 'a database written before flows had spans (migration 0004) upgrades: its flows read as one stream each',
    async run(t, _env, backend) {
      const cfg = await backend.freshConfig();
      if (cfg.client === 'sqlite3') await mkdir(path.dirname(cfg.filename), { recursive: true }); // as openStore does
      const db = createKnex(cfg);
      const before = MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.name === '0005_flow_streams'));
      await db.migrate.latest({ migrationSource: { getMigrations: async () => before, getMigrationName: (m: { name: string }) => m.name, getMigration: async (m: unknown) => m }, tableName: 'knex_migrations' } as never);
      const u = uid();
      await db('flows').insert({ id: 'old', user_id: u, app_server: 'app-a', started_at: T0, ended_at: T0 + 10, end_reason: 'completed' });
      await db.destroy();
      const store = await openStore(cfg, testLogger(), { gapMs: 5000, spanMs: 60000 });
      t.teardown(() => store.close());
      t.deepEqual(await store.flowsOverlapping(u, 0), [{ id: 'old', user: u, appServer: 'app-a', startedAt: T0, endedAt: T0 + 10, endReason: 'completed' }]);
      await store.applyWrites([{ kind: 'insert', flow: flow('new', u, { appServer: 'app-a', startedAt: T0 + 20, endedAt: T0 + 30, endReason: 'completed' }) }]);
      t.is((await store.flowsOverlapping(u, 0)).length, 2, 'a row written before the upgrade is not a span to grow');
    },
  },
  {
    title: 'migrateLatest on an empty database applies every migration once',
    async run(t, _env, backend) {
      const cfg = await backend.freshConfig();
      const log = testLogger();
      t.deepEqual(await migrateLatest(cfg, log), { batch: 1, applied: MIGRATIONS.map((m) => m.name) });
      t.deepEqual(await migrateLatest(cfg, log), { batch: 1, applied: [] });
      t.true(log.entries.some((e) => e.msg === 'applied store migrations'));
    },
  },
  {
    title: 'an unreachable database fails fast with STORE_FAILED naming the operation',
    async run(t, _env, backend) {
      const cfg = await backend.unreachableConfig();
      const started = Date.now();
      const e = await rejectsStoreFailed(t, openStore(cfg, testLogger()), 'store.openStore');
      t.truthy(e.cause);
      await rejectsStoreFailed(t, migrateLatest(cfg, testLogger()), 'store.migrateLatest');
      const took = Date.now() - started;
      t.true(took < 8000, `took ${took} ms`);
    },
  },
  {
    title: 'a closed store rejects every call with STORE_FAILED; closing twice is harmless',
    async run(t, { store }) {
      await store.close();
      await store.close();
      await rejectsStoreFailed(t, store.getUser(uid()), 'store.getUser', 'closed');
      await rejectsStoreFailed(t, store.insertFlow(flow('f', uid())), 'store.insertFlow', 'closed');
    },
  },
  {
    title: 'many users written concurrently (each user in order) all land',
    async run(t, { store }) {
      const users = Array.from({ length: 60 }, uid);
      await Promise.all(
        users.map(async (u, i) => {
          await store.upsertUser(user(u, { createdAt: T0 + i, updatedAt: T0 + i }));
          await store.insertFlow(flow(`${u}/f`, u, { startedAt: T0 + i }));
          await store.setFlowAppServer(`${u}/f`, 'app-b');
          await store.endFlow(`${u}/f`, T0 + i + 1, 'completed');
          await store.recordDecision(decision(u));
          await store.upsertUser(user(u, { state: 'tearing_down', createdAt: T0 + i, updatedAt: T0 + i + 2 }));
        }),
      );
      const all = await store.listUsers();
      t.deepEqual(
        all.map((r) => [r.user, r.state]),
        users.map((u) => [u, 'tearing_down']),
      );
      for (const u of users) {
        t.deepEqual((await store.flowsOverlapping(u, 0)).map((f) => [f.appServer, f.endReason]), [['app-b', 'completed']]);
      }
    },
  },
  {
    title: 'applyWrites with spans: completed streams share a row across batches, others keep theirs; a failed batch folds nothing',
    async run(t, { cfg, admin }, backend) {
      const store = await openStore(cfg, testLogger(), { gapMs: 5000, spanMs: 60000 });
      t.teardown(() => store.close());
      const [a, b] = [uid(), uid()];
      const done = (id: string, u: UserId, start: number, end: number, over: Partial<FlowRecord> = {}) =>
        ({ kind: 'insert', flow: flow(id, u, { appServer: 'app-a', startedAt: T0 + start, endedAt: T0 + end, endReason: 'completed', ...over }) }) as const;
      await store.applyWrites([done('a1', a, 0, 10), done('a2', a, 100, 200), done('a3', a, 150, 400, { appServer: 'app-b' }), done('a4', a, 300, 310, { endReason: 'stream_error' }), { kind: 'insert', flow: flow('a5', a, { startedAt: T0 + 350 }) }]);
      await store.applyWrites([done('a6', a, 1000, 1100), { kind: 'end', flowId: 'a5', endedAt: T0 + 1200, reason: 'completed' }]);
      // A batch that fails (a purge whose DELETE fails) leaves the database and the spans as they were.
      await store.savePin(pin(b));
      await backend.failDeletesOn(admin, 'pins');
      await t.throwsAsync(store.applyWrites([done('a7', a, 1150, 1300), { kind: 'purge', user: b }]));
      await backend.allowDeletesOn(admin, 'pins');
      await store.applyWrites([done('a7', a, 1150, 1300), { kind: 'purge', user: b }]);
      const rows = await admin('flows').where('user_id', a).orderBy('id');
      t.deepEqual(
        rows.map((r) => [r.id, r.app_server, Number(r.started_at) - T0, Number(r.last_started_at) - T0, Number(r.ended_at) - T0, r.end_reason, Number(r.streams)]),
        [
          ['a1', 'app-a', 0, 1150, 1300, 'completed', 4],
          ['a3', 'app-b', 150, 150, 400, 'completed', 1],
          ['a4', 'app-a', 300, 300, 310, 'stream_error', 1],
          ['a5', null, 350, 350, 1200, 'completed', 1],
        ],
      );
      t.like((await store.flowsOverlapping(a, T0 + 1250))[0], { id: 'a1', startedAt: T0, lastStartedAt: T0 + 1150, endedAt: T0 + 1300, streams: 4 });
      // A purge ends the user's spans: the next stream starts a row of its own.
      await store.applyWrites([{ kind: 'purge', user: a }, done('a8', a, 1400, 1500)]);
      t.deepEqual((await admin('flows').where('user_id', a)).map((r) => [r.id, Number(r.streams)]), [['a8', 1]]);
      t.is(store.spans.held, 1);
      await store.purgeUser(a);
      t.is(store.spans.held, 0);
    },
  },
];

/** registerStoreSuite registers every case for backend (and the admin queries' cases), each with a fresh database and store. */
export function registerStoreSuite(backend: StoreBackend): void {
  registerQuerySuite(backend.name, () => backend.freshConfig());
  for (const c of CASES) {
    test(`${backend.name}: ${c.title}`, async (t) => {
      const cfg = await backend.freshConfig();
      const log = testLogger();
      const store = await openStore(cfg, log);
      const admin = createKnex(cfg);
      t.teardown(async () => {
        await store.close();
        await admin.destroy();
      });
      await c.run(t, { cfg, store, admin, log }, backend);
    });
  }
}
