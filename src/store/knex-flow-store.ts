/**
 * KnexFlowStore is the FlowStore adapter over knex, for SQLite and PostgreSQL alike (see knex-config.ts for the
 * connection policy and migrations/ for the schema). Obtain one with openStore; it owns its knex instance.
 *
 * Contracts beyond the FlowStore port:
 * - Every rejection is PlbError(STORE_FAILED) with a message starting `store.<method>:`; invalid input is refused
 *   before any SQL runs, naming each bad field.
 * - Each method is one statement or one transaction, so no call leaves a row half-written.
 * - Ordering: on SQLite all calls share one connection and run in call order even when not awaited; on
 *   PostgreSQL un-awaited calls may run concurrently on different connections, so the core must await a user's
 *   writes in turn (as the port requires).
 * - upsertUser keeps the first created_at of a user; the other columns take the new record's values.
 * - endFlow is first-end-wins; endFlow and setFlowAppServer on an unknown id (e.g. its user was purged while the
 *   stream was open) change nothing and resolve.
 * - With span options, applyWrites folds a user's completed streams to one server into spans (flow-spans.ts): a
 *   row of flows then stands for `streams` of them. insertFlow, called directly, always writes a row of its own.
 */
import type { Knex } from 'knex';
import type { DecisionRecord, FlowEndReason, FlowRecord, FlowStore, Logger, PinRecord, PurgeCounts, UserRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { FlowSpans, type Fold, type FlowSpanOptions } from './flow-spans.ts';
import { checkDecision, checkFlowWrite, checkPin, checkUserRecord, checkWrite, groupWrites, type StoreWrite, type WriteSink } from './flow-writes.ts';
import { getPin, lastDecision, listFlowsPage, listUsersPage, type FlowPageQuery, type UserPageQuery } from './queries.ts';
import { guard, storeFailed } from './store-error.ts';
import { Check } from './validate.ts';
import {
  USER_TABLES,
  decisionToRow,
  flowToRow,
  pinToRow,
  rowToDecision,
  rowToFlow,
  rowToPin,
  rowToUser,
  userToRow,
  type DecisionRow,
  type FlowRow,
  type PinRow,
  type UserRow,
} from './rows.ts';

export class KnexFlowStore implements FlowStore, WriteSink {
  private closed = false;
  /** spans folds completed streams into spans in applyWrites; without span options, a row per stream. */
  readonly spans: FlowSpans;
  /** flowInsert is the dialect's statement inserting a batch's flows (flowInsertSql). */
  private readonly flowInsert: string;

  /** The store takes ownership of db (close() destroys it); the schema must already be migrated. */
  constructor(
    private readonly db: Knex,
    private readonly log: Logger,
    spans: FlowSpanOptions = { gapMs: 0, spanMs: 0 },
  ) {
    this.spans = new FlowSpans(spans);
    this.flowInsert = flowInsertSql(db.client.config.client === 'pg');
  }

  /** upsertUser inserts the user or replaces its state, appServer, updatedAt and presence (createdAt is kept). */
  upsertUser(rec: UserRecord): Promise<void> {
    return this.run('upsertUser', async () => {
      checkUserRecord(rec);
      await this.db<UserRow>('users').insert(userToRow(rec)).onConflict('user_id').merge(USER_MERGE_COLUMNS);
    });
  }

  /** getUser returns the user's record, or null if the store has none. */
  getUser(user: UserId): Promise<UserRecord | null> {
    return this.run('getUser', async () => {
      this.checkUser('getUser', user);
      const row = await this.db<UserRow>('users').where('user_id', user).first();
      return row ? rowToUser(row) : null;
    });
  }

  /** listUsers returns every user, oldest first. */
  listUsers(): Promise<UserRecord[]> {
    return this.run('listUsers', async () => {
      const rows = await this.db<UserRow>('users').select().orderBy([{ column: 'created_at' }, { column: 'user_id' }]);
      return rows.map(rowToUser);
    });
  }

  /** insertFlow records a new flow; a flow id already stored is refused and the stored row is left as it was. */
  insertFlow(flow: FlowRecord): Promise<void> {
    return this.run('insertFlow', async () => {
      checkFlowWrite({ kind: 'insert', flow });
      await this.db<FlowRow>('flows').insert(flowToRow(flow));
    });
  }

  /**
   * applyWrites applies a batch of queued writes in one transaction, with the effect of applying them one by one in
   * order, in a few statements whatever the batch's size (groupWrites): multi-row inserts of flows, completed
   * streams folded into spans (an upsert by id: a stored span takes the batch's end and count; a flow id already
   * stored open is left as it is, so a retried batch is harmless), multi-row upserts of users, then one UPDATE per
   * chunk of upstream changes and one per chunk of flow ends (first end wins, unknown ids change nothing). Every
   * write is checked before any SQL runs. The spans the batch leaves are kept only once it has committed.
   */
  applyWrites(ops: readonly StoreWrite[]): Promise<ReadonlyArray<Record<string, number>>> {
    return this.run('applyWrites', async () => {
      for (const op of ops) checkWrite(op);
      const byUser = new Map<string, Record<string, number>>();
      const purges: string[] = [];
      const fold = this.spans.fold();
      await this.db.transaction(async (trx) => {
        // A purge deletes what the writes before it made, and nothing after it. Writes of other users commute with
        // it, so the batch is cut into segments only where a purged user is written again: each segment is its
        // writes (grouped), then its purges, in one statement per table.
        let group: StoreWrite[] = [];
        let purged = new Set<string>();
        const apply = async () => {
          await this.applyGroup(trx, group, fold);
          for (const [u, c] of await this.purgeAll(trx, [...purged])) {
            byUser.set(u, c);
            fold.purged(u);
          }
          group = [];
          purged = new Set();
        };
        for (const op of ops) {
          const u = userOf(op);
          if (u !== null && purged.has(u)) await apply();
          if (op.kind === 'purge') {
            purged.add(op.user);
            purges.push(op.user);
          } else group.push(op);
        }
        await apply();
      });
      fold.commit();
      return purges.map((u) => byUser.get(u)!);
    });
  }

  /** applyGroup applies writes without a purge among them, grouped into few statements (groupWrites). */
  private async applyGroup(trx: Knex.Transaction, ops: readonly StoreWrite[], fold: Fold): Promise<void> {
    if (ops.length === 0) return;
    const g = groupWrites(ops);
    // Flows are most of the rows written (one per request): their statement is built here, not by knex's query
    // builder, which spent more time quoting identifiers for 400 rows than SQLite spent inserting them. Each span
    // is written once, as the batch leaves it: a statement may not touch a row twice on PostgreSQL.
    for (const r of g.inserts) fold.add(r);
    for (const part of chunks(fold.rows(), FLOWS_PER_STATEMENT)) await trx.raw(this.flowInsert, [flowsJson(part)]);
    for (const rows of chunks(g.decisions, ROWS_PER_STATEMENT)) await trx<DecisionRow>('decisions').insert(rows);
    for (const rows of chunks(g.pins, ROWS_PER_STATEMENT)) await trx<PinRow>('pins').insert(rows).onConflict('user_id').merge();
    for (const users of chunks(g.unpins, ROWS_PER_STATEMENT)) await trx<PinRow>('pins').whereIn('user_id', users).del();
    for (const rows of chunks(g.users, ROWS_PER_STATEMENT)) await trx<UserRow>('users').insert(rows).onConflict('user_id').merge(USER_MERGE_COLUMNS);
    for (const ups of chunks(g.upstreams, ROWS_PER_STATEMENT)) {
      const whens = ups.map(() => 'WHEN ? THEN ?').join(' ');
      await trx.raw(`UPDATE flows SET app_server = CASE id ${whens} END WHERE id IN (${ups.map(() => '?').join(', ')})`, [
        ...ups.flatMap((u) => [u.flowId, u.appServer]),
        ...ups.map((u) => u.flowId),
      ]);
    }
    for (const ends of chunks(g.ends, ROWS_PER_STATEMENT)) {
      // CAST: PostgreSQL types an untyped parameter in CASE as text, and ended_at is a bigint.
      const at = ends.map(() => 'WHEN ? THEN CAST(? AS BIGINT)').join(' ');
      const why = ends.map(() => 'WHEN ? THEN ?').join(' ');
      await trx.raw(`UPDATE flows SET ended_at = CASE id ${at} END, end_reason = CASE id ${why} END WHERE ended_at IS NULL AND id IN (${ends.map(() => '?').join(', ')})`, [
        ...ends.flatMap((e) => [e.flowId, e.endedAt]),
        ...ends.flatMap((e) => [e.flowId, e.reason]),
        ...ends.map((e) => e.flowId),
      ]);
    }
  }

  /** setFlowAppServer records which server served the flow; an unknown flow id changes nothing. */
  setFlowAppServer(flowId: string, appServer: string): Promise<void> {
    return this.run('setFlowAppServer', async () => {
      checkFlowWrite({ kind: 'upstream', flowId, appServer });
      const n = await this.db<FlowRow>('flows').where('id', flowId).update({ app_server: appServer });
      if (n === 0) this.log.debug({ flowId }, 'setFlowAppServer: no such flow');
    });
  }

  /** endFlow closes an open flow; a flow already ended keeps its first end, an unknown flow id changes nothing. */
  endFlow(flowId: string, endedAt: number, reason: FlowEndReason): Promise<void> {
    return this.run('endFlow', async () => {
      checkFlowWrite({ kind: 'end', flowId, endedAt, reason });
      const n = await this.db<FlowRow>('flows').where('id', flowId).whereNull('ended_at').update({ ended_at: endedAt, end_reason: reason });
      if (n === 0) this.log.debug({ flowId }, 'endFlow: no open flow with this id');
    });
  }

  /** flowsOverlapping returns the user's flows still open or ended at or after `since`, by start time. */
  flowsOverlapping(user: UserId, since: number): Promise<FlowRecord[]> {
    return this.run('flowsOverlapping', async () => {
      const c = new Check('flowsOverlapping');
      c.user('user', user);
      c.millis('since', since).done();
      const rows = await this.db<FlowRow>('flows')
        .where('user_id', user)
        .andWhere((q) => q.whereNull('ended_at').orWhere('ended_at', '>=', since))
        .orderBy([{ column: 'started_at' }, { column: 'id' }]);
      return rows.map(rowToFlow);
    });
  }

  /** closeOpenFlows ends every open flow at `at` with `reason` and returns how many it closed. */
  closeOpenFlows(at: number, reason: FlowEndReason): Promise<number> {
    return this.run('closeOpenFlows', async () => {
      new Check('closeOpenFlows').millis('at', at).endReason('reason', reason).done();
      const n = await this.db<FlowRow>('flows').whereNull('ended_at').update({ ended_at: at, end_reason: reason });
      if (n > 0) this.log.info({ closed: n, reason }, 'closed flows left open');
      return n;
    });
  }

  /** pruneFlows deletes at most limit flows that ended before endedBefore (oldest end first); open flows stay. */
  pruneFlows(endedBefore: number, limit: number): Promise<number> {
    return this.run('pruneFlows', async () => {
      new Check('pruneFlows')
        .millis('endedBefore', endedBefore)
        .require(Number.isInteger(limit) && limit >= 1 && limit <= 100000, 'limit', 'must be an integer from 1 to 100000')
        .done();
      // flows_ended_idx serves the inner query; one statement, so a prune is all or nothing.
      const oldest = this.db<FlowRow>('flows').select('id').whereNotNull('ended_at').andWhere('ended_at', '<', endedBefore).orderBy('ended_at').limit(limit);
      return this.db<FlowRow>('flows').whereIn('id', oldest).del();
    });
  }

  /** recordDecision appends a decision to the user's decision log. */
  recordDecision(d: DecisionRecord): Promise<void> {
    return this.run('recordDecision', async () => {
      checkDecision(d);
      await this.db<DecisionRow>('decisions').insert(decisionToRow(d));
    });
  }

  /** listDecisions returns the user's decisions in the order they were recorded (not part of the port). */
  listDecisions(user: UserId): Promise<DecisionRecord[]> {
    return this.run('listDecisions', async () => {
      this.checkUser('listDecisions', user);
      const rows = await this.db<DecisionRow>('decisions').where('user_id', user).orderBy('id');
      return rows.map(rowToDecision);
    });
  }

  /** listUsersPage returns one page of users, oldest first (see queries.ts; not part of the port). */
  listUsersPage(q: UserPageQuery): Promise<UserRecord[]> {
    return this.run('listUsersPage', () => listUsersPage(this.db, q));
  }

  /** listFlowsPage returns one page of the user's flows, newest first (see queries.ts; not part of the port). */
  listFlowsPage(user: UserId, q: FlowPageQuery): Promise<FlowRecord[]> {
    return this.run('listFlowsPage', () => listFlowsPage(this.db, user, q));
  }

  /** lastDecision returns the user's most recent decision, or null (not part of the port). */
  lastDecision(user: UserId): Promise<DecisionRecord | null> {
    return this.run('lastDecision', () => lastDecision(this.db, user));
  }

  /** getPin returns the user's stored route update, or null (not part of the port). */
  getPin(user: UserId): Promise<PinRecord | null> {
    return this.run('getPin', () => getPin(this.db, user));
  }

  /** savePin stores the user's pin, replacing the one in force if any. */
  savePin(pin: PinRecord): Promise<void> {
    return this.run('savePin', async () => {
      checkPin(pin);
      await this.db<PinRow>('pins').insert(pinToRow(pin)).onConflict('user_id').merge();
    });
  }

  /** deletePin removes the user's pin; it resolves as well when there is none. */
  deletePin(user: UserId): Promise<void> {
    return this.run('deletePin', async () => {
      this.checkUser('deletePin', user);
      await this.db<PinRow>('pins').where('user_id', user).del();
    });
  }

  /** listPins returns every pin, by user. */
  listPins(): Promise<PinRecord[]> {
    return this.run('listPins', async () => {
      const rows = await this.db<PinRow>('pins').select().orderBy('user_id');
      return rows.map(rowToPin);
    });
  }

  /**
   * purgeUser deletes every row about the user from every table in USER_TABLES, in one transaction: either all are
   * gone or (on any failure) none is. It returns the number of rows deleted per table.
   */
  purgeUser(user: UserId): Promise<PurgeCounts> {
    return this.run('purgeUser', async () => {
      this.checkUser('purgeUser', user);
      let counts: Record<string, number> = {};
      await this.db.transaction(async (trx) => {
        counts = await this.purgeIn(trx, user);
      });
      const fold = this.spans.fold();
      fold.purged(user);
      fold.commit();
      return counts;
    });
  }

  /** purgeIn deletes every row about the user, in trx, and logs what it deleted. */
  private async purgeIn(trx: Knex.Transaction, user: UserId): Promise<Record<string, number>> {
    return (await this.purgeAll(trx, [user])).get(user)!;
  }

  /**
   * purgeAll deletes every row about the users, in trx, with one statement per table whatever their number (DELETE
   * … RETURNING user_id, on SQLite 3.35+ and PostgreSQL; a write first, so SQLite takes the write lock at once and
   * waits its busy timeout for it, where a read first would fail to upgrade), and logs what it deleted per user
   * (debug: the lifecycle's claim.purge line carries the same counts).
   */
  private async purgeAll(trx: Knex.Transaction, users: readonly string[]): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>(users.map((u) => [u, Object.fromEntries(USER_TABLES.map((t) => [t, 0]))]));
    for (const part of chunks(users, USERS_PER_PURGE)) {
      for (const table of USER_TABLES) {
        const res = await trx.raw(`DELETE FROM ?? WHERE user_id IN (${part.map(() => '?').join(', ')}) RETURNING user_id`, [table, ...part]);
        const rows = (Array.isArray(res) ? res : (res as { rows: unknown[] }).rows) as Array<{ user_id: string }>;
        for (const r of rows) out.get(r.user_id)![table]! += 1;
      }
    }
    for (const [user, counts] of out) this.log.debug({ user, counts }, 'purged user');
    return out;
  }

  /** close releases every connection. Later calls reject with STORE_FAILED; closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await guard('close', () => this.db.destroy());
  }

  private run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return guard(op, async () => {
      if (this.closed) throw storeFailed(op, 'store is closed');
      return fn();
    });
  }

  private checkUser(op: string, user: unknown): void {
    const c = new Check(op);
    c.user('user', user);
    c.done();
  }
}

/** USER_MERGE_COLUMNS are what an upsert of a stored user replaces (created_at is kept). */
const USER_MERGE_COLUMNS: Array<keyof UserRow> = ['state', 'app_server', 'updated_at', 'presence'];

/**
 * ROWS_PER_STATEMENT: rows per insert or update. knex writes a multi-row insert on SQLite as a compound SELECT,
 * which SQLite caps at 500 terms; at most 6 bound variables a row keeps a statement far below SQLite's 32,766 (since
 * 3.32; the sqlite3 package bundles 3.52) and PostgreSQL's 65,535. USERS_PER_PURGE: users per DELETE (one variable
 * each). Fewer statements matter: each is a round trip through a busy event loop, and a batch of 2,000 purges in
 * chunks of 150 was 56 of them.
 */
const ROWS_PER_STATEMENT = 400;

/** FLOW_COLUMNS are the columns of a flow row, in the order flowsJson writes them. */
const FLOW_COLUMNS = ['id', 'user_id', 'app_server', 'started_at', 'ended_at', 'end_reason', 'streams', 'last_started_at'] as const satisfies ReadonlyArray<keyof FlowRow>;

/** FLOWS_PER_STATEMENT: flows per insert (one bound parameter whatever their number; see flowInsertSql). */
const FLOWS_PER_STATEMENT = 2000;

/** FLOW_UPSERT is what a flow id already stored does (see flowInsertSql). */
const FLOW_UPSERT =
  'ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at, end_reason = excluded.end_reason, streams = excluded.streams, last_started_at = excluded.last_started_at ' +
  'WHERE flows.ended_at IS NOT NULL AND excluded.ended_at IS NOT NULL';

/**
 * flowInsertSql is the statement inserting flows given as one JSON array of rows (flowsJson), for the dialect. One
 * parameter instead of one a column a row: binding thousands of parameters (the sqlite3 driver converts each on the main
 * thread) and knex's scan of the statement for each placeholder cost more than the database's own work; the
 * database reads the JSON itself (SQLite's json_each, in libuv's thread pool; PostgreSQL's json_array_elements).
 * ON CONFLICT … DO UPDATE (SQLite 3.24+, PostgreSQL): a flow id already stored is a span the batch grew, and an
 * ended row takes the new row's times, reason and count when the new row has ended too; anything else stored is
 * left as it was, so a retried batch is harmless. (SQLite needs the WHERE true before ON CONFLICT after a SELECT.)
 */
function flowInsertSql(pg: boolean): string {
  const cols = FLOW_COLUMNS.join(', ');
  if (pg) {
    const types = ['text', 'uuid', 'text', 'bigint', 'bigint', 'text', 'integer', 'bigint'];
    const vals = types.map((t, i) => `CAST(e->>${i} AS ${t})`).join(', ');
    return `INSERT INTO flows (${cols}) SELECT ${vals} FROM json_array_elements(CAST(? AS json)) AS e ${FLOW_UPSERT}`;
  }
  // json_extract (SQLite 3.9+) rather than ->> (3.38+), for a sqlite3 built against an older system SQLite.
  const vals = FLOW_COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(', ');
  return `INSERT INTO flows (${cols}) SELECT ${vals} FROM json_each(?) WHERE true ${FLOW_UPSERT}`;
}

/** flowsJson writes rows as the JSON array flowInsertSql reads: one array of FLOW_COLUMNS per row. */
function flowsJson(rows: readonly FlowRow[]): string {
  return JSON.stringify(
    rows.map((r) => [r.id, r.user_id, r.app_server, Number(r.started_at), r.ended_at === null ? null : Number(r.ended_at), r.end_reason, Number(r.streams ?? 1), Number(r.last_started_at ?? r.started_at)]),
  );
}
const USERS_PER_PURGE = 2000;

function* chunks<T>(all: readonly T[], n: number): Generator<T[]> {
  for (let i = 0; i < all.length; i += n) yield all.slice(i, i + n);
}

/** userOf is the user a queued write is about, or null for a flow update (keyed by flow id). */
function userOf(op: StoreWrite): string | null {
  switch (op.kind) {
    case 'insert':
      return op.flow.user;
    case 'user':
      return op.user.user;
    case 'decision':
      return op.decision.user;
    case 'pin':
      return op.pin.user;
    case 'unpin':
    case 'purge':
      return op.user;
    default:
      return null;
  }
}
