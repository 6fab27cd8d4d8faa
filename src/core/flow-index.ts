/**
 * FlowIndex is the in-memory index of the flows the identifying step reads: for each user, the flows still open
 * and those that ended at most `retainMs` ago. The lifecycle feeds it every flow event as it happens (the store
 * receives the same events, written behind), so a decision needs no database round trip, and a slow database
 * write cannot hold a decision back.
 *
 * Completed streams a user makes to one server, each starting at most gapMs (the lifecycle's graceMs) after the
 * previous one ended, are held as one record, a span (FlowRecord.streams), by the rule the store folds by too
 * (flow-span.ts, which says why a decision reads a span as it reads its streams): a busy user's streams were
 * hundreds of records, and adding each to its user's map was the largest part of presencelb's main thread in
 * access-log and flow-log modes.
 *
 * It answers only what it has seen whole: a question about instants before it became authoritative (set once the
 * store's state has been restored after a start, see Lifecycle.restore), or before its retention window, gets
 * null, and the caller reads the store instead. Pure: no I/O, no timers; time comes in as arguments.
 */
import { foldable, joinsSpan } from './flow-span.ts';
import type { FlowEndReason, FlowRecord } from './ports.ts';
import type { UserId } from './user-id.ts';

/** PRUNE_MIN: a user's flows are not pruned on a flow's end while there are fewer than this many. */
const PRUNE_MIN = 16;

/** Span is a record the index grows in place as streams join it; it hands out copies (overlapping). */
type Span = { -readonly [K in keyof FlowRecord]: FlowRecord[K] };

/** FlowIndex holds recent flows per user. */
export class FlowIndex {
  readonly #byUser = new Map<UserId, Map<string, FlowRecord>>();
  /** #spans: per user, per server ('' when unknown), the span the next completed stream may join. */
  readonly #spans = new Map<UserId, Map<string, Span>>();
  /** #pruneAt: a user's flows are pruned when they reach this many (twice what the last prune left, at least PRUNE_MIN). */
  readonly #pruneAt = new Map<UserId, number>();
  #from = Number.POSITIVE_INFINITY;

  /** gapMs: the longest pause between two streams of a span (at most graceMs); null keeps a record per stream. */
  constructor(
    private readonly retainMs: number,
    private readonly gapMs: number | null = null,
  ) {}

  /** authoritativeFrom says the index has seen every flow event since `at` (the end of the start-up restore). */
  authoritativeFrom(at: number): void {
    this.#from = at;
  }

  started(flow: FlowRecord): void {
    let flows = this.#byUser.get(flow.user);
    if (!flows) this.#byUser.set(flow.user, (flows = new Map()));
    flows.set(flow.id, flow);
  }

  /**
   * recorded adds a flow that has already ended (FlowSink.flowRecorded): started and ended in one step. A stream
   * that ended `completed` joins its user's span for its server when it starts no earlier than the span's first
   * stream and at most gapMs after the span's end (so a span's start never moves, and its latest start is exact);
   * a newer one starts a span, an older one keeps a record of its own.
   */
  recorded(flow: FlowRecord): void {
    const endedAt = flow.endedAt ?? 0;
    if (this.gapMs !== null && foldable(flow.endedAt, flow.endReason)) {
      const server = flow.appServer ?? '';
      let spans = this.#spans.get(flow.user);
      const span = spans?.get(server);
      if (span && this.#byUser.get(flow.user)?.get(span.id) === span && joinsSpan(span.startedAt, span.endedAt!, flow.startedAt, endedAt, this.gapMs)) {
        // A span the data path folded (its streams and latest start) joins as its streams would.
        const last = flow.lastStartedAt ?? flow.startedAt;
        if (last > (span.lastStartedAt ?? span.startedAt)) span.lastStartedAt = last;
        if (endedAt > span.endedAt!) span.endedAt = endedAt;
        span.streams = (span.streams ?? 1) + (flow.streams ?? 1);
        return;
      }
      if (!span || endedAt >= span.endedAt!) {
        const started: Span = { ...flow };
        if (!spans) this.#spans.set(flow.user, (spans = new Map()));
        spans.set(server, started);
        this.started(started);
        this.#maybePrune(flow.user, endedAt);
        return;
      }
    }
    this.started(flow);
    this.#maybePrune(flow.user, endedAt);
  }

  upstream(flowId: string, user: UserId, appServer: string): void {
    const f = this.#byUser.get(user)?.get(flowId);
    if (f) this.#byUser.get(user)!.set(flowId, { ...f, appServer });
  }

  /**
   * ended records a flow's end. Now and then (when the user's flows have doubled since the last time) it also drops
   * the user's flows that ended before the retention window: a busy user's flows are many, and walking them all on
   * every end cost a tenth of presencelb's CPU under load. prune() drops the rest on the lifecycle's sweep.
   */
  ended(flowId: string, user: UserId, endedAt: number, reason: FlowEndReason): void {
    const flows = this.#byUser.get(user);
    const f = flows?.get(flowId);
    if (!flows || !f) return;
    if (f.endedAt === null) flows.set(flowId, { ...f, endedAt, endReason: reason });
    this.#maybePrune(user, endedAt);
  }

  /** #maybePrune prunes a user's flows when they have doubled since the last time (see ended). */
  #maybePrune(user: UserId, now: number): void {
    const flows = this.#byUser.get(user);
    if (!flows || flows.size < (this.#pruneAt.get(user) ?? PRUNE_MIN)) return;
    const left = this.#prune(user, flows, now);
    if (left > 0) this.#pruneAt.set(user, Math.max(PRUNE_MIN, 2 * left));
  }

  /**
   * forget drops a user's ended flows (the user's rows were purged). Open flows stay: one that started while the
   * teardown ran is recorded after the purge, and one that was purged is still open in Envoy all the same.
   */
  forget(user: UserId): void {
    const flows = this.#byUser.get(user);
    if (!flows) return;
    for (const [id, f] of flows) if (f.endedAt !== null) flows.delete(id);
    this.#spans.delete(user);
    this.#dropIfEmpty(user, flows);
  }

  /**
   * overlapping returns the user's flows open at some instant at or after `since` (as FlowStore.flowsOverlapping),
   * or null when the index cannot answer for `since` at `now`: before it became authoritative, or before its
   * retention window.
   */
  overlapping(user: UserId, since: number, now: number): FlowRecord[] | null {
    if (since < this.#from || since < now - this.retainMs) return null;
    const out: FlowRecord[] = [];
    // Copies: a span goes on growing after the caller has read it.
    for (const f of this.#byUser.get(user)?.values() ?? []) if (f.endedAt === null || f.endedAt >= since) out.push({ ...f });
    return out;
  }

  /** held is how many flows the index holds for a user now, in the window or not yet pruned (for tests and diagnostics). */
  held(user: UserId): number {
    return this.#byUser.get(user)?.size ?? 0;
  }

  /** prune drops, for every user, the flows that ended before the retention window; it returns how many remain. */
  prune(now: number): number {
    let n = 0;
    for (const [user, flows] of this.#byUser) n += this.#prune(user, flows, now);
    return n;
  }

  #prune(user: UserId, flows: Map<string, FlowRecord>, now: number): number {
    for (const [id, f] of flows) if (f.endedAt !== null && f.endedAt < now - this.retainMs) flows.delete(id);
    this.#dropIfEmpty(user, flows);
    return flows.size;
  }

  /** #dropIfEmpty forgets a user whose flows are all gone. */
  #dropIfEmpty(user: UserId, flows: Map<string, FlowRecord>): void {
    if (flows.size > 0) return;
    this.#byUser.delete(user);
    this.#pruneAt.delete(user);
    this.#spans.delete(user);
  }
}
