/**
 * WriteBehindStore keeps writes off the request path and off the database's connection queue: insertFlow,
 * setFlowAppServer, endFlow, upsertUser, recordDecision, savePin and deletePin are checked, queued and resolved at
 * once, and purgeUser is queued and resolved with its counts once its batch is committed; all are applied
 * in batches (one transaction flowFlushMs after the first flow write queued, lazyFlushMs after the first other write,
 * flushMs when a purge, which a caller waits for, is queued, or as soon as maxBatch writes are queued; a batch takes
 * every write queued when it goes, and of any size is a few statements, see KnexFlowStore.applyWrites). Nothing on a
 * request's path waits for a batch, and a read applies what is queued at once, so a longer delay only makes
 * batches bigger: a batch costs SQLite a commit, the statements and the
 * WAL frames of every page it dirtied, whatever its size (0.12 ms of CPU a flow at 80 flows a batch, 0.07 ms at 400,
 * measured 11:20 UTC 2026-11-26; with thousands of users, each flow dirties a page of its own in the user index,
 * so a batch of a second, with SQLite's cache and checkpoint interval of knex-config.ts, took a flow's row from 39
 * to 25 µs, `npm run bench -- store`). A crash loses the writes not yet committed: the last flowFlushMs of flows and
 * lazyFlushMs of the rest (a user's state, a decision, a pin: what a restart restores) normally, more
 * while the database fails (up to maxPending). A flow's later writes are folded into its queued insert, so a short
 * request usually costs one row written once; a user's later states are folded into its queued upsert (the latest
 * state wins, the first createdAt is kept), so a burst of new users costs a few multi-row statements, not one
 * statement per step waiting for SQLite's single connection. A batch of decisions, pins and purges is likewise one
 * transaction: under a burst of presence changes, one round trip per decision and per purge (each waiting for a
 * turn of a busy event loop) made the single connection the bottleneck and its queue time out.
 *
 * Contracts:
 * - Order: every other operation (the reads) first waits until every write queued before
 *   it is applied, so the store behaves as if the writes had been applied in call order, on SQLite and PostgreSQL
 *   alike.
 * - A bad write is refused at once (PlbError STORE_FAILED naming the field) and never enters a batch.
 * - When the database fails, the batch stays queued and is retried (back-off up to 5 s); queued writes beyond
 *   maxPending are dropped oldest first with an error log. Writes queued during the back-off do not bring the
 *   retry forward. close() applies what is queued before closing.
 */
import type { DecisionRecord, FlowEndReason, FlowRecord, FlowStore, Logger, PinRecord, PurgeCounts, UserRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { checkFlowWrite, checkUserRecord, checkWrite, type StoreWrite, type WriteSink } from './flow-writes.ts';

/** SLOW_BATCH_MS: a batch that takes this long to apply is logged (STORE_SLOW), with its size. */
const SLOW_BATCH_MS = 1000;

/** LAZY_FLUSH_MS: a user's state, a decision or a pin, which no caller waits for, is applied within 100 ms. */
export const LAZY_FLUSH_MS = 100;

/**
 * FLOW_FLUSH_MS: flow writes are applied within a second: one for every request, they are most of the rows, and
 * bigger batches cost less a flow (see the class comment). A crash loses at most this much of them.
 */
export const FLOW_FLUSH_MS = 1000;

/** MAX_BATCH: at most this many writes a batch: a second of flows at 10,000 requests/s. */
export const MAX_BATCH = 10000;

/** WriteBehindOptions tune batching; the defaults suit one presencelb process. */
export interface WriteBehindOptions {
  /** flushMs: how soon a batch holding a purge is applied (25 ms). */
  readonly flushMs?: number;
  /** lazyFlushMs: how soon a user's state, a decision or a pin, which no caller waits for, is applied (LAZY_FLUSH_MS). */
  readonly lazyFlushMs?: number;
  /** flowFlushMs: how soon flow writes are applied (FLOW_FLUSH_MS); a batch takes everything queued when it goes. */
  readonly flowFlushMs?: number;
  /** maxBatch: a batch is applied as soon as this many writes are queued (MAX_BATCH). */
  readonly maxBatch?: number;
  readonly maxPending?: number;
  readonly log: Logger;
}

type MutableInsert = { kind: 'insert'; flow: { -readonly [K in keyof FlowRecord]: FlowRecord[K] } };
type MutableUser = { kind: 'user'; user: UserRecord };
type QueuedPurge = { kind: 'purge'; user: UserId; done: (counts: PurgeCounts | Error) => void };

/**
 * WriteBehindStore decorates a store with batched flow and user writes. `inner` is the decorated store, for queries
 * beyond the FlowStore port (admin API): call `flush()` first so they see every write made before.
 */
export class WriteBehindStore<S extends FlowStore & WriteSink = FlowStore & WriteSink> implements FlowStore {
  private queue: StoreWrite[] = [];
  /** queuedInserts: flow id → its insert still in the queue, to fold later writes into. */
  private readonly queuedInserts = new Map<string, MutableInsert>();
  /** queuedUsers: user → its upsert still in the queue, to fold later states into. */
  private readonly queuedUsers = new Map<UserId, MutableUser>();
  private applying: Promise<void> | null = null;
  /** enqueued / applied count writes ever queued / applied (or dropped), so flush() can wait for "before now". */
  private enqueued = 0;
  private applied = 0;
  private timer: NodeJS.Timeout | null = null;
  /** timerDue: when the scheduled batch is due (Date.now() clock). */
  private timerDue = 0;
  /** backoffUntil: after a failed batch, no batch is tried before this instant, whatever is queued meanwhile. */
  private backoffUntil = 0;
  private failures = 0;
  private readonly flushMs: number;
  private readonly lazyFlushMs: number;
  private readonly flowFlushMs: number;
  private readonly maxBatch: number;
  private readonly maxPending: number;

  constructor(readonly inner: S, private readonly o: WriteBehindOptions) {
    this.flushMs = o.flushMs ?? 25;
    this.lazyFlushMs = Math.max(this.flushMs, o.lazyFlushMs ?? LAZY_FLUSH_MS);
    this.flowFlushMs = Math.max(this.flushMs, o.flowFlushMs ?? FLOW_FLUSH_MS);
    this.maxBatch = o.maxBatch ?? MAX_BATCH;
    this.maxPending = o.maxPending ?? 200000;
  }

  /** pending is the number of writes queued and not yet applied. */
  get pending(): number {
    return this.queue.length;
  }

  async insertFlow(flow: FlowRecord): Promise<void> {
    const op: MutableInsert = { kind: 'insert', flow: { ...flow } };
    this.enqueue(op);
    // Later writes fold into an open flow's insert (its server, its end); nothing changes one that came ended.
    if (flow.endedAt === null) this.queuedInserts.set(flow.id, op);
  }

  async setFlowAppServer(flowId: string, appServer: string): Promise<void> {
    checkFlowWrite({ kind: 'upstream', flowId, appServer });
    const queued = this.queuedInserts.get(flowId);
    if (queued) queued.flow.appServer = appServer;
    else this.enqueue({ kind: 'upstream', flowId, appServer });
  }

  async endFlow(flowId: string, endedAt: number, reason: FlowEndReason): Promise<void> {
    checkFlowWrite({ kind: 'end', flowId, endedAt, reason });
    const queued = this.queuedInserts.get(flowId);
    if (queued) {
      if (queued.flow.endedAt === null) Object.assign(queued.flow, { endedAt, endReason: reason });
    } else this.enqueue({ kind: 'end', flowId, endedAt, reason });
  }

  /**
   * upsertUser queues the user's state: folded into the user's upsert still queued (its createdAt kept, the rest
   * replaced), else queued after every write before it.
   */
  async upsertUser(r: UserRecord): Promise<void> {
    checkUserRecord(r);
    const queued = this.queuedUsers.get(r.user);
    if (queued) {
      queued.user = { ...r, createdAt: queued.user.createdAt };
      return;
    }
    const op: MutableUser = { kind: 'user', user: r };
    this.enqueue(op);
    this.queuedUsers.set(r.user, op);
  }

  /** flush resolves once every write queued before the call is applied; it rejects if the database fails. */
  async flush(): Promise<void> {
    const target = this.enqueued;
    while (this.applied < target) {
      if (this.applying) {
        const failed = await this.applying.then(() => false, () => true);
        if (failed && this.applied < target) throw new Error('flow writes could not be applied (see the error log)');
        continue;
      }
      await this.applyNext(this.queue.length);
    }
  }

  getUser = (u: UserId) => this.after(() => this.inner.getUser(u));
  listUsers = () => this.after(() => this.inner.listUsers());
  flowsOverlapping = (u: UserId, since: number) => this.after(() => this.inner.flowsOverlapping(u, since));
  closeOpenFlows = (at: number, reason: FlowEndReason) => this.after(() => this.inner.closeOpenFlows(at, reason));
  pruneFlows = (endedBefore: number, limit: number) => this.after(() => this.inner.pruneFlows(endedBefore, limit));
  listPins = () => this.after(() => this.inner.listPins());

  async recordDecision(d: DecisionRecord): Promise<void> {
    this.enqueue({ kind: 'decision', decision: d });
  }

  async savePin(p: PinRecord): Promise<void> {
    this.enqueue({ kind: 'pin', pin: p });
  }

  async deletePin(u: UserId): Promise<void> {
    this.enqueue({ kind: 'unpin', user: u });
  }

  /**
   * purgeUser queues the purge after every write before it, and resolves with the rows it deleted once its batch is
   * committed (rejects if the queue had to drop it, or the store closed first). A user state queued before it is
   * not folded into any more: a later state belongs to a new session and is written after the purge.
   */
  purgeUser(u: UserId): Promise<PurgeCounts> {
    return new Promise<PurgeCounts>((resolve, reject) => {
      const op: QueuedPurge = { kind: 'purge', user: u, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) };
      this.enqueue(op);
      this.queuedUsers.delete(u);
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch((e) => this.o.log.error({ code: 'STORE_FAILED', err: String(e), lost: this.queue.length }, 'flow writes could not be applied before closing'));
    for (const op of this.queue) if (op.kind === 'purge') (op as QueuedPurge).done(new Error('store closed before the purge was applied'));
    await this.inner.close();
  }

  private async after<T>(fn: () => Promise<T>): Promise<T> {
    await this.flush();
    return fn();
  }

  private enqueue(op: StoreWrite): void {
    checkWrite(op);
    this.queue.push(op);
    this.enqueued++;
    if (this.queue.length > this.maxPending && !this.applying) {
      const dropped = this.queue.splice(0, this.queue.length - this.maxPending);
      this.applied += dropped.length;
      for (const d of dropped) {
        this.unfold(d);
        if (d.kind === 'purge') (d as QueuedPurge).done(new Error('write queue full: purge dropped'));
      }
      this.o.log.error({ code: 'STORE_FAILED', dropped: dropped.length }, 'flow write queue full: oldest writes dropped');
    }
    if (this.queue.length >= this.maxBatch && !this.applying && Date.now() >= this.retryNotBefore()) void this.applyNext(this.maxBatch).catch(() => undefined);
    else this.schedule(this.delayOf(op));
  }

  /** delayOf is how soon a batch holding op must be applied: a purge soonest, a flow write latest. */
  private delayOf(op: StoreWrite): number {
    if (op.kind === 'purge') return this.flushMs;
    return op.kind === 'insert' || op.kind === 'upstream' || op.kind === 'end' ? this.flowFlushMs : this.lazyFlushMs;
  }

  /** schedule has the next batch applied within ms: a batch already due sooner stays, a later one is brought forward. */
  private schedule(ms: number): void {
    const now = Date.now();
    const due = Math.max(now + ms, this.retryNotBefore());
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.applying && this.queue.length > 0) void this.applyNext(this.maxBatch).catch(() => undefined);
    }, due - now);
    this.timer.unref();
  }

  /** retryNotBefore is when the next batch may be tried: the end of the back-off after a failed batch, else 0. */
  private retryNotBefore(): number {
    return this.failures > 0 ? this.backoffUntil : 0;
  }

  /** unfold stops later writes from folding into op (it is being applied, or was dropped). */
  private unfold(op: StoreWrite): void {
    if (op.kind === 'insert') {
      if (this.queuedInserts.get(op.flow.id) === op) this.queuedInserts.delete(op.flow.id);
    } else if (op.kind === 'user') {
      if (this.queuedUsers.get(op.user.user) === op) this.queuedUsers.delete(op.user.user);
    }
  }

  /**
   * applyNext applies the first n queued writes as one batch. Only one batch is ever in flight. On failure the
   * writes stay queued, in order, and a retry is scheduled with back-off.
   */
  private applyNext(n: number): Promise<void> {
    if (this.applying) return this.applying;
    const batch = this.queue.slice(0, n);
    // Later writes to these flows and users are queued after the batch instead of being folded into it.
    for (const op of batch) this.unfold(op);
    this.applying = (async () => {
      const startedAt = Date.now();
      try {
        const purged = await this.inner.applyWrites(batch);
        const ms = Date.now() - startedAt;
        if (ms >= SLOW_BATCH_MS) this.o.log.warn({ code: 'STORE_SLOW', writes: kinds(batch), ms, queued: this.queue.length }, 'store batch slow');
        this.queue.splice(0, batch.length);
        this.applied += batch.length;
        this.failures = 0;
        let i = 0;
        for (const op of batch) if (op.kind === 'purge') (op as QueuedPurge).done((purged[i++] ?? {}) as PurgeCounts);
      } catch (e) {
        this.failures++;
        this.o.log.error({ code: 'STORE_FAILED', err: String(e), queued: this.queue.length }, 'flow writes not applied: retrying');
        throw e;
      } finally {
        this.applying = null;
        const backoff = Math.min(5000, this.flushMs * 2 ** this.failures);
        if (this.failures > 0) this.backoffUntil = Date.now() + backoff;
        if (this.queue.length > 0) this.schedule(this.failures ? backoff : this.queue.reduce((ms, op) => Math.min(ms, this.delayOf(op)), this.flowFlushMs));
      }
    })();
    return this.applying;
  }
}

/** kinds counts a batch's writes by kind, for the log. */
function kinds(batch: readonly StoreWrite[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of batch) out[op.kind] = (out[op.kind] ?? 0) + 1;
  return out;
}
