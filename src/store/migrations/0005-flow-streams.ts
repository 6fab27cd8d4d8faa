/**
 * Migration 0005: flows.streams, how many HTTP streams a row stands for, and flows.last_started_at, the latest start
 * among them. A row is one stream, or a span: completed streams of one user to one server folded into one row
 * (src/store/flow-spans.ts). Rows written before it are one stream each, hence the default count, and a null
 * last_started_at reads as started_at.
 */
import type { StoreMigration } from './migration.ts';

export const addFlowStreams: StoreMigration = {
  name: '0005_flow_streams',
  async up(knex) {
    await knex.schema.alterTable('flows', (t) => {
      t.integer('streams').notNullable().defaultTo(1);
      t.bigInteger('last_started_at').nullable();
    });
  },
  async down(knex) {
    await knex.schema.alterTable('flows', (t) => {
      t.dropColumn('streams');
      t.dropColumn('last_started_at');
    });
  },
};
