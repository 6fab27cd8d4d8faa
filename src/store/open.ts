/**
 * Opening the store: prepare the storage (SQLite's parent directory), connect, bring the schema to the latest
 * migration, and hand back a KnexFlowStore. migrateLatest does the same without keeping the store open, for the
 * `presencelb migrate` command. Both reject with STORE_FAILED naming the operation, and never leave a pool open
 * behind a failure.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from '../core/ports.ts';
import { createKnex, type StoreConfig } from './knex-config.ts';
import type { FlowSpanOptions } from './flow-spans.ts';
import { KnexFlowStore } from './knex-flow-store.ts';
import { MIGRATOR_CONFIG } from './migrations/index.ts';
import { guard, storeFailed } from './store-error.ts';

/** MigrateResult says which migrations one run applied (none when the schema was already current). */
export interface MigrateResult {
  readonly batch: number;
  readonly applied: readonly string[];
}

/**
 * openStore connects to the configured database, migrates it to the latest schema and returns the store. spans say
 * which completed streams share a row (flow-spans.ts); without them, a row per stream.
 */
export async function openStore(config: StoreConfig, log: Logger, spans?: FlowSpanOptions): Promise<KnexFlowStore> {
  const slog = storeLogger(config, log);
  const db = await connect('openStore', config, slog);
  try {
    await guard('openStore', async () => {
      await migrate(db, slog);
      if (config.client === 'sqlite3') await checkJournalMode(db, slog);
    });
  } catch (e) {
    await db.destroy().catch(() => undefined);
    throw e;
  }
  return new KnexFlowStore(db, slog, spans);
}

/** migrateLatest applies every pending migration to the configured database, then disconnects. */
export async function migrateLatest(config: StoreConfig, log: Logger): Promise<MigrateResult> {
  const slog = storeLogger(config, log);
  const db = await connect('migrateLatest', config, slog);
  try {
    return await guard('migrateLatest', () => migrate(db, slog));
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

/** describeTarget names the database for logs and messages without its password. */
export function describeTarget(config: StoreConfig): string {
  if (config.client === 'sqlite3') return `sqlite3:${config.filename}`;
  try {
    const u = new URL(config.connection);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'pg:(unparsable URL)';
  }
}

function storeLogger(config: StoreConfig, log: Logger): Logger {
  return log.child({ component: 'store', target: describeTarget(config) });
}

async function connect(op: string, config: StoreConfig, log: Logger): Promise<Knex> {
  if (config.client === 'sqlite3' && isFilePath(config.filename)) {
    const dir = path.dirname(path.resolve(config.filename));
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw storeFailed(op, `cannot create directory ${dir} for the SQLite file: ${(e as Error).message}`, e);
    }
  }
  return guard(op, async () => createKnex(config, log));
}

/** isFilePath is false for SQLite's in-memory and URI filenames, whose directory must not be created. */
function isFilePath(filename: string): boolean {
  return filename !== ':memory:' && filename !== '' && !filename.startsWith('file:');
}

async function migrate(db: Knex, log: Logger): Promise<MigrateResult> {
  const [batch, applied] = (await db.migrate.latest(MIGRATOR_CONFIG)) as [number, string[]];
  if (applied.length > 0) log.info({ batch, applied }, 'applied store migrations');
  else log.debug({}, 'store schema is current');
  return { batch, applied };
}

/** checkJournalMode warns when SQLite refused WAL (e.g. on a network file system); the store still works. */
async function checkJournalMode(db: Knex, log: Logger): Promise<void> {
  const rows = (await db.raw('PRAGMA journal_mode')) as Array<{ journal_mode: string }>;
  const mode = rows[0]?.journal_mode;
  if (mode !== 'wal' && mode !== 'memory') log.warn({ journalMode: mode }, 'SQLite is not in WAL mode');
}
