/**
 * Queued writes as values, so they can be queued and applied in batches (write-behind.ts) and checked before they
 * are queued: a bad write is refused at once with a clear error and never poisons a batch. Two kinds are queued:
 * flow changes (insert, upstream, end) and a user's state (upsert).
 */
import type { FlowEndReason, FlowRecord, UserRecord } from '../core/ports.ts';
import { flowToRow, userToRow, type FlowRow, type UserRow } from './rows.ts';
import { Check } from './validate.ts';

/** FlowWrite is one queued change to the flows table. */
export type FlowWrite =
  | { readonly kind: 'insert'; readonly flow: FlowRecord }
  | { readonly kind: 'upstream'; readonly flowId: string; readonly appServer: string }
  | { readonly kind: 'end'; readonly flowId: string; readonly endedAt: number; readonly reason: FlowEndReason };

/** UserWrite is one queued upsert of a user's row (upsertUser: createdAt of the first write is kept). */
export type UserWrite = { readonly kind: 'user'; readonly user: UserRecord };

/** StoreWrite is anything the write-behind queue holds. */
export type StoreWrite = FlowWrite | UserWrite;

/**
 * WriteSink applies a batch of queued writes in one transaction, with the effect of applying them one by one in
 * order (see KnexFlowStore.applyWrites for how a batch is grouped into few statements).
 */
export interface WriteSink {
  applyWrites(ops: readonly StoreWrite[]): Promise<void>;
}

/** checkWrite throws PlbError(STORE_FAILED) naming each bad field of a write (the store's own checks). */
export function checkWrite(op: StoreWrite): void {
  if (op.kind === 'user') return checkUserRecord(op.user);
  checkFlowWrite(op);
}

/** checkUserRecord is upsertUser's input check. */
export function checkUserRecord(rec: UserRecord): void {
  const c = new Check('upsertUser');
  if (c.object('rec', rec)) {
    c.user('rec.user', rec.user);
    c.state('rec.state', rec.state).optionalId('rec.appServer', rec.appServer);
    c.millis('rec.createdAt', rec.createdAt).millis('rec.updatedAt', rec.updatedAt).text('rec.presence', rec.presence, true);
  }
  c.done();
}

/** checkFlowWrite throws PlbError(STORE_FAILED) naming each bad field of a flow write. */
export function checkFlowWrite(op: FlowWrite): void {
  if (op.kind === 'insert') {
    const c = new Check('insertFlow');
    const flow = op.flow;
    if (c.object('flow', flow)) {
      c.id('flow.id', flow.id);
      c.user('flow.user', flow.user);
      c.optionalId('flow.appServer', flow.appServer).millis('flow.startedAt', flow.startedAt);
      c.millis('flow.endedAt', flow.endedAt, true).endReason('flow.endReason', flow.endReason, true);
      c.require((flow.endedAt === null) === (flow.endReason === null), 'flow.endReason', 'must be set exactly when endedAt is');
    }
    c.done();
  } else if (op.kind === 'upstream') {
    new Check('setFlowAppServer').id('flowId', op.flowId).id('appServer', op.appServer).done();
  } else {
    new Check('endFlow').id('flowId', op.flowId).millis('endedAt', op.endedAt).endReason('reason', op.reason).done();
  }
}

/** GroupedWrites is a batch as few statements apply it: rows to insert or upsert, and updates keyed by flow. */
export interface GroupedWrites {
  readonly inserts: FlowRow[];
  readonly users: UserRow[];
  readonly upstreams: Array<{ readonly flowId: string; readonly appServer: string }>;
  readonly ends: Array<{ readonly flowId: string; readonly endedAt: number; readonly reason: FlowEndReason }>;
}

/**
 * groupWrites turns a batch into GroupedWrites that, applied as inserts, then user upserts, then upstream changes,
 * then ends, have the effect of the batch applied write by write: each kind touches its own rows or columns, and a
 * flow's update can only follow its insert (the queue folds later writes into a queued insert; an insert and
 * separate updates of one flow share a batch only when a failed batch is retried, and inserts go first). Within a
 * kind: a user's upserts fold into one (the first createdAt, the last of everything else, as upsertUser keeps the
 * stored created_at); a flow's last upstream wins; its first end wins (endFlow is first-end-wins).
 */
export function groupWrites(ops: readonly StoreWrite[]): GroupedWrites {
  const inserts: FlowRow[] = [];
  const users = new Map<string, UserRow>();
  const upstreams = new Map<string, string>();
  const ends = new Map<string, { flowId: string; endedAt: number; reason: FlowEndReason }>();
  for (const op of ops) {
    if (op.kind === 'insert') inserts.push(flowToRow(op.flow));
    else if (op.kind === 'user') {
      const prev = users.get(op.user.user);
      users.set(op.user.user, prev ? { ...userToRow(op.user), created_at: prev.created_at } : userToRow(op.user));
    } else if (op.kind === 'upstream') upstreams.set(op.flowId, op.appServer);
    else if (!ends.has(op.flowId)) ends.set(op.flowId, { flowId: op.flowId, endedAt: op.endedAt, reason: op.reason });
  }
  return { inserts, users: [...users.values()], upstreams: [...upstreams].map(([flowId, appServer]) => ({ flowId, appServer })), ends: [...ends.values()] };
}
