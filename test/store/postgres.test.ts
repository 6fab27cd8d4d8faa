/**
 * The store on a real PostgreSQL server (a throw-away cluster from the harness): the shared suite, plus what only
 * PostgreSQL has (a pool; int8 parsing confined to the store's own connections).
 */
import test from 'ava';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Knex } from 'knex';
import { freePort } from '../harness/ports.ts';
import { startPostgres, type PostgresServer } from '../harness/postgres.ts';
import { openStore, createKnex } from '../../src/store/index.ts';
import { CONNECT_TIMEOUT_MS, STATEMENT_TIMEOUT_MS } from '../../src/store/knex-config.ts';
import { isPlbError } from '../../src/core/errors.ts';
import { registerStoreSuite, testLogger, type StoreBackend } from './store-suite.ts';

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(async () => {
  await server?.stop();
});

const pg: StoreBackend = {
  name: 'postgres',
  async freshConfig() {
    if (!server) throw new Error('PostgreSQL did not start');
    return { client: 'pg', connection: await server.createDatabase() };
  },
  // Nothing listens on a port just released by the kernel.
  unreachableConfig: async () => ({ client: 'pg', connection: `postgres://postgres@127.0.0.1:${await freePort()}/presencelb` }),
  async listTables(db: Knex) {
    const res: { rows: Array<{ table_name: string }> } = await db.raw(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    return res.rows.map((r) => r.table_name).filter((t) => !t.startsWith('knex_'));
  },
  async failDeletesOn(db, table) {
    await db.raw(`CREATE OR REPLACE FUNCTION plb_fail_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected purge failure'; END $$`);
    await db.raw(`CREATE TRIGGER plb_fail_delete BEFORE DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION plb_fail_delete()`);
  },
  async allowDeletesOn(db, table) {
    await db.raw(`DROP TRIGGER plb_fail_delete ON ${table}`);
  },
};

registerStoreSuite(pg);

test('postgres: store connections parse int8 and carry a statement timeout; the global pg type parsers are untouched', async (t) => {
  const store = await openStore(await pg.freshConfig(), testLogger());
  t.teardown(() => store.close());
  await store.insertFlow({ id: 'f', user: '0f8fad5b-d9cb-469f-a165-70867728950e' as never, appServer: null, startedAt: 2 ** 33, endedAt: null, endReason: null });
  t.is((await store.flowsOverlapping('0f8fad5b-d9cb-469f-a165-70867728950e' as never, 0))[0]?.startedAt, 2 ** 33);
  const probe = createKnex(await pg.freshConfig());
  t.teardown(() => probe.destroy());
  const settings: { rows: Array<{ name: string; setting: string }> } = await probe.raw(
    `SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'application_name') ORDER BY name`,
  );
  t.deepEqual(settings.rows, [
    { name: 'application_name', setting: 'presencelb' },
    { name: 'statement_timeout', setting: String(STATEMENT_TIMEOUT_MS) },
  ]);
  const pgTypes = createRequire(import.meta.url)('pg').types as { getTypeParser(oid: number, format: string): (v: string) => unknown };
  t.is(pgTypes.getTypeParser(20, 'text')('8589934592'), '8589934592');
});

test('postgres: a server that accepts but never answers fails within the connect timeout, not the pool timeout', async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as net.AddressInfo;
  const started = Date.now();
  const e = await t.throwsAsync(openStore({ client: 'pg', connection: `postgres://postgres@127.0.0.1:${port}/presencelb` }, testLogger()));
  const took = Date.now() - started;
  t.true(isPlbError(e, 'STORE_FAILED'), String(e));
  t.regex(e!.message, /^store\.openStore: .*timeout/i);
  t.true(took >= CONNECT_TIMEOUT_MS - 200 && took < CONNECT_TIMEOUT_MS + 3000, `took ${took} ms`);
});
