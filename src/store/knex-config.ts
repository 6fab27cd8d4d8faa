/**
 * How the store connects: one knex instance per store, configured per dialect.
 *
 * SQLite (sqlite3): a pool of exactly one connection, so every write goes through one connection in call order
 * and no two of our own writes ever contend for the file lock; each connection gets a busy timeout (for other
 * processes, e.g. `presencelb migrate` or a backup), WAL journaling (readers never block the writer),
 * synchronous=NORMAL (with WAL: a commit survives a crash of presencelb, the last commits may be lost on power
 * failure or an OS crash, the file is never corrupted), foreign-key enforcement (no table declares one yet) and
 * temporary files in memory (temp_store: a multi-row INSERT … ON CONFLICT needs a statement journal, and on disk
 * that was a file created and unlinked for every batch; seen with strace, 11:20 UTC 2026-11-26).
 *
 * PostgreSQL (pg): a pool of up to 10 connections that connects lazily; a connection attempt gives up after
 * CONNECT_TIMEOUT_MS and a statement after STATEMENT_TIMEOUT_MS, so an unreachable or stuck database surfaces as
 * STORE_FAILED instead of a hang. bigint (int8) columns are parsed to numbers on each connection of this pool only
 * (no global pg type parser is changed).
 */
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/ports.ts';

/** StoreConfig is the `store` section of the configuration. */
export type StoreConfig = Config['store'];

/** BUSY_TIMEOUT_MS is how long a SQLite statement waits for another process's lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;
/** CONNECT_TIMEOUT_MS bounds one PostgreSQL connection attempt. */
export const CONNECT_TIMEOUT_MS = 3000;
/** STATEMENT_TIMEOUT_MS bounds one PostgreSQL statement (server side), e.g. a purge waiting on a row lock. */
export const STATEMENT_TIMEOUT_MS = 30000;
/** ACQUIRE_TIMEOUT_MS bounds how long a query waits for a pooled connection. */
export const ACQUIRE_TIMEOUT_MS = 15000;

const PG_INT8_OID = 20;

/** SqliteConnection is the part of a sqlite3 Database the pool hook uses. */
interface SqliteConnection {
  exec(sql: string, cb: (err: Error | null) => void): void;
}

/** PgConnection is the part of a pg Client the pool hook uses. */
interface PgConnection {
  setTypeParser(oid: number, format: 'text', parse: (v: string) => unknown): void;
}

type Done = (err: Error | null, conn: unknown) => void;

/**
 * SQLITE_CACHE_KIB: SQLite's page cache per connection (its default is 2 MiB). A batch of flows inserts one entry
 * per flow into flows_user_ended_idx, each at its user's place: with thousands of users a batch dirties about one
 * page per flow, and a cache smaller than the pages a batch dirties spills them to the WAL before the commit.
 */
export const SQLITE_CACHE_KIB = 16384;

/**
 * SQLITE_WAL_PAGES: the WAL is checkpointed into the database once it holds this many pages (SQLite's default is
 * 1,000, 4 MiB). A page dirtied by several commits between two checkpoints is copied back once, so a longer WAL
 * copies back fewer pages per flow; the WAL file grows to about this many pages (40 MiB).
 */
export const SQLITE_WAL_PAGES = 10000;

/**
 * SQLITE_PRAGMAS is run on every new SQLite connection; busy_timeout first so the journal switch can wait. The cache
 * and the checkpoint interval, with the write-behind's batches of a second (write-behind.ts), took a flow's row from
 * 39 to 25 µs of CPU, all threads (`npm run bench -- store`; ARCHITECTURE.md, "Writes are write-behind").
 */
export const SQLITE_PRAGMAS = [
  `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`,
  'PRAGMA journal_mode = WAL',
  'PRAGMA synchronous = NORMAL',
  'PRAGMA foreign_keys = ON',
  'PRAGMA temp_store = MEMORY',
  `PRAGMA cache_size = -${SQLITE_CACHE_KIB}`,
  `PRAGMA wal_autocheckpoint = ${SQLITE_WAL_PAGES}`,
];

/** knexLog routes knex's own messages (e.g. "Acquire connection error") to the logger instead of the console. */
function knexLog(log: Logger | undefined): Knex.Config['log'] {
  if (!log) return undefined;
  return {
    warn: (msg: unknown) => log.warn({ knex: String(msg) }, 'knex warning'),
    error: (msg: unknown) => log.error({ knex: String(msg) }, 'knex error'),
    deprecate: (method: string, alternative: string) => log.warn({ method, alternative }, 'knex deprecation'),
    debug: (msg: unknown) => log.debug({ knex: msg }, 'knex debug'),
  };
}

/** knexConfig returns the knex configuration for a store config (no connection is opened); knex logs go to log. */
export function knexConfig(config: StoreConfig, log?: Logger): Knex.Config {
  if (config.client === 'sqlite3') {
    return {
      log: knexLog(log),
      client: 'sqlite3',
      connection: { filename: config.filename },
      useNullAsDefault: true,
      acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteConnection, done: Done) {
          conn.exec(SQLITE_PRAGMAS.join(';\n'), (err) => done(err, conn));
        },
      },
    };
  }
  return {
    log: knexLog(log),
    client: 'pg',
    connection: {
      connectionString: config.connection,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: 'presencelb',
    },
    acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
    pool: {
      min: 0,
      max: 10,
      afterCreate(conn: PgConnection, done: Done) {
        conn.setTypeParser(PG_INT8_OID, 'text', (v) => Number(v));
        done(null, conn);
      },
    },
  };
}

/** createKnex opens a knex instance (its pool connects on first use) with knexConfig(config, log). */
export function createKnex(config: StoreConfig, log?: Logger): Knex {
  return knexFactory(knexConfig(config, log));
}
