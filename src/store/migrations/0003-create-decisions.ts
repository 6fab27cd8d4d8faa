/** Migration 0003: decisions, an append-only log of the reconnect/teardown decisions taken for each user. */
import type { StoreMigration } from './migration.ts';

export const createDecisions: StoreMigration = {
  name: '0003_create_decisions',
  async up(knex) {
    await knex.schema.createTable('decisions', (t) => {
      t.bigIncrements('id');
      t.uuid('user_id').notNullable();
      t.bigInteger('decided_at').notNullable();
      t.bigInteger('notify_sent_at').notNullable();
      t.text('branch').notNullable();
      t.text('app_server').nullable();
      t.text('reason').notNullable();
      t.index(['user_id'], 'decisions_user_idx');
    });
  },
  async down(knex) {
    await knex.schema.dropTable('decisions');
  },
};
