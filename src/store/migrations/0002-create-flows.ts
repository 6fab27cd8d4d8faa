/**
 * Migration 0002: flows, one row per HTTP stream through Envoy. There is deliberately no foreign key to users: a
 * flow is recorded the moment Envoy reports it, possibly before the user's row exists; purgeUser removes both.
 * (user_id, ended_at) serves flowsOverlapping; ended_at alone serves closeOpenFlows (ended_at IS NULL).
 */
import type { StoreMigration } from './migration.ts';

export const createFlows: StoreMigration = {
  name: '0002_create_flows',
  async up(knex) {
    await knex.schema.createTable('flows', (t) => {
      t.text('id').notNullable().primary();
      t.uuid('user_id').notNullable();
      t.text('app_server').nullable();
      t.bigInteger('started_at').notNullable();
      t.bigInteger('ended_at').nullable();
      t.text('end_reason').nullable();
      t.index(['user_id', 'ended_at'], 'flows_user_ended_idx');
      t.index(['ended_at'], 'flows_ended_idx');
    });
  },
  async down(knex) {
    await knex.schema.dropTable('flows');
  },
};
