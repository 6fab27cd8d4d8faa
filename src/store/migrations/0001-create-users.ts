/** Migration 0001: users, one row per tracked user, keyed by the user's UUID. */
import type { StoreMigration } from './migration.ts';

export const createUsers: StoreMigration = {
  name: '0001_create_users',
  async up(knex) {
    await knex.schema.createTable('users', (t) => {
      t.uuid('user_id').notNullable().primary();
      t.text('state').notNullable();
      t.text('app_server').nullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('updated_at').notNullable();
      /** presence is the last presence document seen (JSON text). */
      t.text('presence').nullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable('users');
  },
};
