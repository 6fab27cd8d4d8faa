/**
 * Read-only queries for the operator's surface (the admin API), beyond what the core's FlowStore port needs. Each
 * is one SELECT; pages use keyset pagination on a unique ordering (a cursor, not an offset), so rows inserted or
 * purged meanwhile never shift a page or repeat a row. KnexFlowStore wraps them (STORE_FAILED on failure).
 */
import type { Knex } from 'knex';
import type { DecisionRecord, FlowRecord, PinRecord, UserRecord, UserState } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { Check } from './validate.ts';
import { rowToDecision, rowToFlow, rowToPin, rowToUser, type DecisionRow, type FlowRow, type PinRow, type UserRow } from './rows.ts';

/** StoreReads are the queries the operator's surface reads through (see fresh-reads.ts). */
export interface StoreReads {
  getUser(user: UserId): Promise<UserRecord | null>;
  listPins(): Promise<PinRecord[]>;
  listUsersPage(q: UserPageQuery): Promise<UserRecord[]>;
  listFlowsPage(user: UserId, q: FlowPageQuery): Promise<FlowRecord[]>;
  lastDecision(user: UserId): Promise<DecisionRecord | null>;
  getPin(user: UserId): Promise<PinRecord | null>;
}

/** MAX_PAGE is the largest page any query returns. */
export const MAX_PAGE = 1000;

/** UserPageQuery asks for up to limit users after a cursor, in (createdAt, user) order, optionally in one state. */
export interface UserPageQuery {
  readonly limit: number;
  readonly state: UserState | null;
  /** after is the last user of the previous page (exclusive), null for the first page. */
  readonly after: { readonly createdAt: number; readonly user: UserId } | null;
}

/** FlowPageQuery asks for up to limit of a user's flows before a cursor, newest first ((startedAt, id) descending). */
export interface FlowPageQuery {
  readonly limit: number;
  /** before is the last flow of the previous page (exclusive), null for the first page. */
  readonly before: { readonly startedAt: number; readonly id: string } | null;
}

/** listUsersPage returns one page of users, oldest first (created_at, then user_id). */
export async function listUsersPage(db: Knex, q: UserPageQuery): Promise<UserRecord[]> {
  const c = new Check('listUsersPage');
  c.require(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_PAGE, 'limit', `must be an integer in [1, ${MAX_PAGE}]`);
  if (q.state !== null) c.state('state', q.state);
  if (q.after) c.millis('after.createdAt', q.after.createdAt).user('after.user', q.after.user);
  c.done();
  let sel = db<UserRow>('users').select();
  if (q.state) sel = sel.where('state', q.state);
  const after = q.after;
  if (after) sel = sel.andWhere((w) => w.where('created_at', '>', after.createdAt).orWhere((x) => x.where('created_at', after.createdAt).andWhere('user_id', '>', after.user)));
  const rows = await sel.orderBy([{ column: 'created_at' }, { column: 'user_id' }]).limit(q.limit);
  return rows.map(rowToUser);
}

/** listFlowsPage returns one page of a user's flows, newest first (started_at, then id, descending). */
export async function listFlowsPage(db: Knex, user: UserId, q: FlowPageQuery): Promise<FlowRecord[]> {
  const c = new Check('listFlowsPage');
  c.user('user', user);
  c.require(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_PAGE, 'limit', `must be an integer in [1, ${MAX_PAGE}]`);
  if (q.before) c.millis('before.startedAt', q.before.startedAt).id('before.id', q.before.id);
  c.done();
  let sel = db<FlowRow>('flows').where('user_id', user);
  const before = q.before;
  if (before) sel = sel.andWhere((w) => w.where('started_at', '<', before.startedAt).orWhere((x) => x.where('started_at', before.startedAt).andWhere('id', '<', before.id)));
  const rows = await sel.orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit);
  return rows.map(rowToFlow);
}

/** lastDecision returns the user's most recent decision, or null. */
export async function lastDecision(db: Knex, user: UserId): Promise<DecisionRecord | null> {
  const c = new Check('lastDecision');
  c.user('user', user);
  c.done();
  const row = await db<DecisionRow>('decisions').where('user_id', user).orderBy('id', 'desc').first();
  return row ? rowToDecision(row) : null;
}

/** getPin returns the user's route update in force (as stored), or null. */
export async function getPin(db: Knex, user: UserId): Promise<PinRecord | null> {
  const c = new Check('getPin');
  c.user('user', user);
  c.done();
  const row = await db<PinRow>('pins').where('user_id', user).first();
  return row ? rowToPin(row) : null;
}
