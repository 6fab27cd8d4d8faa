/**
 * The store: presencelb's database adapter. It implements the core's FlowStore port over knex, on SQLite (one
 * file, one connection, WAL) or PostgreSQL (a pool), with the same schema on both.
 */
export { KnexFlowStore } from './knex-flow-store.ts';
export { MAX_PAGE, type FlowPageQuery, type StoreReads, type UserPageQuery } from './queries.ts';
export { freshReads } from './fresh-reads.ts';
export { openStore, migrateLatest, describeTarget, type MigrateResult } from './open.ts';
export { createKnex, knexConfig, type StoreConfig } from './knex-config.ts';
export { USER_TABLES, type UserTable } from './rows.ts';
export { MIGRATIONS } from './migrations/index.ts';
