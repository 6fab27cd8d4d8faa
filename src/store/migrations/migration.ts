/**
 * StoreMigration is one schema step: a stable name (recorded in knex_migrations, never renamed once released) and
 * an up/down pair written with knex's schema builder only, so the same step yields the same tables on SQLite and
 * PostgreSQL. Column types used: uuid (native on PostgreSQL, char(36) on SQLite), text, bigint milliseconds.
 * Primary-key columns are declared NOT NULL explicitly: SQLite would otherwise accept NULL in a non-integer key.
 */
import type { Knex } from 'knex';

export interface StoreMigration extends Knex.Migration {
  readonly name: string;
}
