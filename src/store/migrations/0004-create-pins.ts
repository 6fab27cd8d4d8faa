/** Migration 0004: pins, the route updates in force; at most one per user. */
import type { StoreMigration } from './migration.ts';

export const createPins: StoreMigration = {
  name: '0004_create_pins',
  async up(knex) {
    await knex.schema.createTable('pins', (t) => {
      t.uuid('user_id').notNullable().primary();
      t.text('app_server').notNullable();
      t.bigInteger('created_at').notNullable();
      t.bigInteger('expires_at').notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable('pins');
  },
};
