/**
 * The store's migrations, listed in code and handed to knex's migrator as a migrationSource: no directory is
 * scanned, so they run the same under tsx, from compiled JavaScript and from a bundled build. Append new steps at
 * the end; never edit or rename a released one.
 */
import type { Knex } from 'knex';
import type { StoreMigration } from './migration.ts';
import { createUsers } from './0001-create-users.ts';
import { createFlows } from './0002-create-flows.ts';
import { createDecisions } from './0003-create-decisions.ts';
import { createPins } from './0004-create-pins.ts';
import { addFlowStreams } from './0005-flow-streams.ts';

/** MIGRATIONS is every schema step in the order it is applied. */
export const MIGRATIONS: readonly StoreMigration[] = [createUsers, createFlows, createDecisions, createPins, addFlowStreams];

/** migrationSource serves MIGRATIONS to knex's migrator. */
export const migrationSource: Knex.MigrationSource<StoreMigration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};

/** MIGRATOR_CONFIG is the migrator configuration shared by openStore and migrateLatest. */
export const MIGRATOR_CONFIG: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };
