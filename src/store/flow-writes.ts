/**
 * Queued writes as values, so they can be queued and applied in batches (write-behind.ts) and checked before they
 * are queued: a bad write is refused at once with a clear error and never poisons a batch. Queued are flow changes
 * (insert, upstream, end), a user's state (upsert), decisions (append), pins (save, delete) and purges.
 */
import type { DecisionRecord, FlowEndReason, FlowRecord, PinRecord, UserRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { decisionToRow, flowToRow, pinToRow, userToRow, type DecisionRow, type FlowRow, type PinRow, type UserRow } from './rows.ts';
import { Check } from './validate.ts';

/** FlowWrite is one queued change to the flows table. */
export type FlowWrite =
  | { readonly kind: 'insert'; readonly flow: FlowRecord }
  | { readonly kind: 'upstream'; readonly flowId: string; readonly appServer: string }
  | { readonly kind: 'end'; readonly flowId: string; readonly endedAt: number; readonly reason: FlowEndReason };

/** UserWrite is one queued upsert of a user's row (upsertUser: createdAt of the first write is kept). */
export type UserWrite = { readonly kind: 'user'; readonly user: UserRecord };

/** DecisionWrite appends one decision; PinWrite saves or deletes a user's pin; PurgeWrite deletes every row of a user. */
export type DecisionWrite = { readonly kind: 'decision'; readonly decision: DecisionRecord };
export type PinWrite = { readonly kind: 'pin'; readonly pin: PinRecord } | { readonly kind: 'unpin'; readonly user: UserId };
export type PurgeWrite = { readonly kind: 'purge'; readonly user: UserId };

/** StoreWrite is anything the write-behind queue holds. */
export type StoreWrite = FlowWrite | UserWrite | DecisionWrite | PinWrite | PurgeWrite;

/**
 * WriteSink applies a batch of queued writes in one transaction, with the effect of applying them one by one in
 * order (see KnexFlowStore.applyWrites for how a batch is grouped into few statements).
 */
export interface WriteSink {
  /** applyWrites resolves with the rows each purge of the batch deleted, in the order of the purges. */
  applyWrites(ops: readonly StoreWrite[]): Promise<ReadonlyArray<Record<string, number>>>;
}

/** checkWrite throws PlbError(STORE_FAILED) naming each bad field of a write (the store's own checks). */
export function checkWrite(op: StoreWrite): void {
  if (op.kind === 'user') return checkUserRecord(op.user);
  if (op.kind === 'decision') return checkDecision(op.decision);
  if (op.kind === 'pin') return checkPin(op.pin);
  if (op.kind === 'unpin' || op.kind === 'purge') {
    const c = new Check(op.kind === 'unpin' ? 'deletePin' : 'purgeUser');
    c.user('user', op.user);
    return c.done();
  }
  checkFlowWrite(op);
}

/** checkDecision is recordDecision's input check. */
export function checkDecision(d: DecisionRecord): void {
  const c = new Check('recordDecision');
  if (c.object('d', d)) {
    c.user('d.user', d.user);
    c.millis('d.decidedAt', d.decidedAt).millis('d.notifySentAt', d.notifySentAt).branch('d.branch', d.branch);
    c.optionalId('d.appServer', d.appServer).text('d.reason', d.reason);
  }
  c.done();
}

/** checkPin is savePin's input check. */
export function checkPin(pin: PinRecord): void {
  const c = new Check('savePin');
  if (c.object('pin', pin)) {
    c.user('pin.user', pin.user);
    c.id('pin.appServer', pin.appServer).millis('pin.createdAt', pin.createdAt).millis('pin.expiresAt', pin.expiresAt);
  }
  c.done();
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
  readonly decisions: DecisionRow[];
  /** pins saved (the last save or delete of each user wins) and users whose pin is deleted. */
  readonly pins: PinRow[];
  readonly unpins: string[];
  readonly upstreams: Array<{ readonly flowId: string; readonly appServer: string }>;
  readonly ends: Array<{ readonly flowId: string; readonly endedAt: number; readonly reason: FlowEndReason }>;
}

/**
 * groupWrites turns a batch into GroupedWrites that, applied as inserts, then user upserts, then upstream changes,
 * then ends, have the effect of the batch applied write by write: each kind touches its own rows or columns, and a
 * flow's update can only follow its insert (the queue folds later writes into a queued insert; an insert and
 * separate updates of one flow share a batch only when a failed batch is retried, and inserts go first). Within a
 * kind: a user's upserts fold into one (the first createdAt, the last of everything else, as upsertUser keeps the
 * stored created_at); a flow's last upstream wins; its first end wins (endFlow is first-end-wins); decisions are
 * appended in order; a user's last pin write (save or delete) wins. The batch holds no purge: purges split batches.
 */
export function groupWrites(ops: readonly StoreWrite[]): GroupedWrites {
  const inserts: FlowRow[] = [];
  const users = new Map<string, UserRow>();
  const decisions: DecisionRow[] = [];
  const pins = new Map<string, PinRow | null>();
  const upstreams = new Map<string, string>();
  const ends = new Map<string, { flowId: string; endedAt: number; reason: FlowEndReason }>();
  for (const op of ops) {
    if (op.kind === 'insert') inserts.push(flowToRow(op.flow));
    else if (op.kind === 'user') {
      const prev = users.get(op.user.user);
      users.set(op.user.user, prev ? { ...userToRow(op.user), created_at: prev.created_at } : userToRow(op.user));
    } else if (op.kind === 'decision') decisions.push(decisionToRow(op.decision));
    else if (op.kind === 'pin') pins.set(op.pin.user, pinToRow(op.pin));
    else if (op.kind === 'unpin') pins.set(op.user, null);
    else if (op.kind === 'purge') throw new Error('groupWrites: a purge ends a group (KnexFlowStore.applyWrites splits batches at purges)');
    else if (op.kind === 'upstream') upstreams.set(op.flowId, op.appServer);
    else if (!ends.has(op.flowId)) ends.set(op.flowId, { flowId: op.flowId, endedAt: op.endedAt, reason: op.reason });
  }
  const saved = [...pins.values()].filter((p): p is PinRow => p !== null);
  const unpins = [...pins].filter(([, p]) => p === null).map(([u]) => u);
  return { inserts, users: [...users.values()], decisions, pins: saved, unpins, upstreams: [...upstreams].map(([flowId, appServer]) => ({ flowId, appServer })), ends: [...ends.values()] };
}
