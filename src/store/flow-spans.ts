/**
 * FlowSpans folds a user's completed HTTP streams to one server into few rows of `flows`: a span. Every request is a
 * flow, and a row per request made the store presencelb's largest cost under load (each row's entry in the user
 * index lands on its own page; see ARCHITECTURE.md, "Flows are stored as spans"). A span is one row standing for
 * `streams` completed streams of one user to one server, from the first start to the last end.
 *
 * A completed stream joins the user's latest span for its server by the rule of src/core/flow-span.ts, which also
 * says why a decision reads a span as it reads its streams: it ended `completed` (a stream that ended otherwise,
 * e.g. `stream_error`, keeps a row of its own, so its reason is never lost in a span), it starts no earlier than
 * the span's first stream (so a span's start never moves: the admin API pages a user's flows by it) and at most
 * gapMs after its end, and the span then lasts at most spanMs (so the admin API still shows a user's activity
 * minute by minute). A span keeps its latest start (last_started_at) for the end of a reconnect window.
 *
 * Open streams are never folded: each keeps its row, so its end and its server can be written to it, and a restart
 * closes it with a recorded reason. Pure apart from its own memory: no I/O; a store folds a batch in a Fold, and
 * keeps the Fold's spans only once the batch is committed, so a retried batch folds the same streams again, not
 * twice.
 */
import { foldable, growSpan, joinsSpan } from '../core/flow-span.ts';
import type { FlowRow } from './rows.ts';

/** FlowSpanOptions say which streams may share a row; spanMs 0 keeps a row per stream. */
export interface FlowSpanOptions {
  /** gapMs: the longest pause between two streams of a span (at most the lifecycle's graceMs). */
  readonly gapMs: number;
  /** spanMs: the longest a span may last, first start to last end; 0 turns folding off. */
  readonly spanMs: number;
}

/** Span is one span as a batch leaves it: the row to write, with its times as numbers. */
interface Span {
  readonly row: FlowRow;
  startedAt: number;
  lastStartedAt: number;
  endedAt: number;
  streams: number;
}

/** Spans holds spans by user, then by server ('' until Envoy has said), so a purge drops a user's in one step. */
type Spans<S> = Map<string, Map<string, S>>;

/** FlowSpans holds, per user and server, the latest span still open to new streams. */
export class FlowSpans {
  readonly #latest: Spans<Readonly<Span>> = new Map();
  /** #newest: the latest end seen, the clock spans age by (rows carry times, so no clock is needed). */
  #newest = 0;
  /** #sweptAt: #newest when spans were last swept. */
  #sweptAt = 0;

  constructor(readonly options: FlowSpanOptions) {
    if (!Number.isInteger(options.gapMs) || options.gapMs < 0) throw new Error('FlowSpans: gapMs must be an integer >= 0');
    if (!Number.isInteger(options.spanMs) || options.spanMs < 0) throw new Error('FlowSpans: spanMs must be an integer >= 0');
  }

  /** enabled is false when spanMs is 0: every stream keeps a row. */
  get enabled(): boolean {
    return this.options.spanMs > 0;
  }

  /** held is how many spans are open to new streams (for tests and diagnostics). */
  get held(): number {
    let n = 0;
    for (const byServer of this.#latest.values()) n += byServer.size;
    return n;
  }

  /** fold starts folding one batch; nothing changes here until the Fold is committed. */
  fold(): Fold {
    return new Fold(this);
  }

  /** @internal the span a stream of this user and server would join, from this object's committed state. */
  latest(user: string, server: string): Readonly<Span> | undefined {
    return this.#latest.get(user)?.get(server);
  }

  /** @internal commit keeps a committed batch's spans, forgets purged users', and drops spans no stream can join. */
  commit(spans: Spans<Span>, purged: ReadonlySet<string>, newest: number): void {
    for (const user of purged) this.#latest.delete(user);
    for (const [user, byServer] of spans) {
      let mine = this.#latest.get(user);
      if (!mine) this.#latest.set(user, (mine = new Map()));
      for (const [server, span] of byServer) mine.set(server, span);
    }
    this.#newest = Math.max(this.#newest, newest);
    // A span whose end is more than gapMs behind the newest end seen is joined only by a stream that old, which is
    // rare (a stream reported late): it then gets a row of its own, which is what it had before spans. The sweep
    // runs at most once per FLUSH_SLACK_MS of the newest end, over the spans of the users active meanwhile.
    if (this.#newest - this.#sweptAt < FLUSH_SLACK_MS) return;
    this.#sweptAt = this.#newest;
    const horizon = this.#newest - this.options.gapMs - FLUSH_SLACK_MS;
    for (const [user, byServer] of this.#latest) {
      for (const [server, span] of byServer) if (span.endedAt < horizon) byServer.delete(server);
      if (byServer.size === 0) this.#latest.delete(user);
    }
  }
}

/**
 * FLUSH_SLACK_MS: how much longer than gapMs a span stays open to new streams, for streams reported out of order
 * (a batch holds a second of flows, and entries of one Envoy arrive in completion order, not start order).
 */
const FLUSH_SLACK_MS = 5000;

/** Fold is one batch being folded: the rows to write, and the spans they leave. */
export class Fold {
  /** #spans: the spans this batch looked at, copies of the committed ones (those are never changed in place). */
  readonly #spans: Spans<Span> = new Map();
  /** #dirty: the spans grown or started since rows() was last called. */
  readonly #dirty = new Set<Span>();
  /** #own: rows written as they are (open streams, other reasons, streams older than their user's span). */
  #own: FlowRow[] = [];
  readonly #purged = new Set<string>();
  #newest = 0;

  constructor(private readonly owner: FlowSpans) {}

  /**
   * add takes a flow row to be inserted: an open stream, one that did not end `completed`, or one older than its
   * user's span keeps it as it is; any other joins its user's span for its server, or starts one.
   */
  add(row: FlowRow): void {
    if (!this.owner.enabled || !foldable(row.ended_at, row.end_reason)) {
      this.#own.push(row);
      return;
    }
    const startedAt = Number(row.started_at);
    const endedAt = Number(row.ended_at);
    // A row may itself be a span (the data path folds streams before it reports them): it joins as its streams would.
    const lastStartedAt = row.last_started_at == null ? startedAt : Math.max(startedAt, Number(row.last_started_at));
    const streams = row.streams === undefined ? 1 : Number(row.streams);
    if (endedAt > this.#newest) this.#newest = endedAt;
    const server = row.app_server ?? '';
    let byServer = this.#spans.get(row.user_id);
    let span = byServer?.get(server);
    if (!span && !this.#purged.has(row.user_id)) {
      const committed = this.owner.latest(row.user_id, server);
      if (committed) span = { ...committed };
    }
    const { gapMs, spanMs } = this.owner.options;
    if (span && joinsSpan(span.startedAt, span.endedAt, startedAt, endedAt, gapMs, spanMs)) growSpan(span, lastStartedAt, endedAt, streams);
    else if (span && endedAt < span.endedAt) {
      // A stream older than the user's span (one that ended before it, or started before it and ended within it)
      // keeps a row of its own and leaves the span open.
      this.#own.push(row);
      return;
    } else {
      // A newer one starts a span; the one it replaces is written now if this batch grew it.
      if (span && this.#dirty.delete(span)) this.#own.push(spanRow(span));
      span = { row, startedAt, lastStartedAt, endedAt, streams };
    }
    if (!byServer) this.#spans.set(row.user_id, (byServer = new Map()));
    byServer.set(server, span);
    this.#dirty.add(span);
  }

  /** purged says the user's rows were deleted in this batch: their spans are gone, later streams start new ones. */
  purged(user: string): void {
    this.#purged.add(user);
    const byServer = this.#spans.get(user);
    if (byServer) for (const span of byServer.values()) this.#dirty.delete(span);
    this.#spans.delete(user);
  }

  /**
   * rows takes what the batch has folded since the last call: rows to write as they are, and each span grown or
   * started, once, as it stands. A span's row has the id of its first stream, so a span an earlier batch stored is
   * written over (an upsert by id). Take them before the batch's purges that follow them are applied.
   */
  rows(): FlowRow[] {
    const out = this.#own;
    this.#own = [];
    for (const span of this.#dirty) out.push(spanRow(span));
    this.#dirty.clear();
    return out;
  }

  /** commit keeps the batch's spans: call it once the batch's transaction has committed. */
  commit(): void {
    this.owner.commit(this.#spans, this.#purged, this.#newest);
  }
}

/** spanRow is the row a span is written as. */
function spanRow(s: Span): FlowRow {
  return { ...s.row, started_at: s.startedAt, last_started_at: s.lastStartedAt, ended_at: s.endedAt, streams: s.streams };
}
