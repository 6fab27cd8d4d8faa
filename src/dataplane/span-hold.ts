/**
 * SpanHold: the data path's thread holds a tracked user's completed flows for a while, folded into spans, before it
 * hands them to the lifecycle in the main thread.
 *
 * Why: in access-log and flow-log modes every request reaches presencelb as a flow reported whole (FlowSink
 * flowRecorded). At 10,000 users each one was a message between threads, an entry grown in the lifecycle's index and
 * a row handed to the store, and that per-request work was most of presencelb's main thread (ARCHITECTURE.md, "Spans
 * leave the data path's thread"). A user's completed streams to one server, each starting at most gapMs after the
 * previous one ended, are one span by the rule the index and the store fold by (src/core/flow-span.ts, which says
 * why a decision reads a span as it reads its streams). Folding them here, where they arrive, sends one span per
 * user and server per holdMs instead of one message per request; the index and the store then fold spans into
 * their spans by the same rule.
 *
 * Starts wait too (blocking and observability modes, where ext_proc sees a request start and the access log its end):
 * a flow start of a user granted at once is held (start), its server noted (upstream), and when its end comes as
 * completed (end) it joins the user's spans like a flow reported whole; the main thread never hears of its start.
 * At 10,000 users, where a user's requests seldom share a span, that is still one message, index entry and row a
 * request instead of a start, an upstream and an end, each a message, an index update and a store write. A start
 * still open after startHoldMs (250 ms: a long-lived stream), or when its user's spans are released (a settle, the
 * user no longer granted at once, stop), is released as a start, after the user's spans, and its end then goes as
 * it always did.
 *
 * What may wait: only flows of users the lifecycle grants at once (a new or degraded user's flow must reach the
 * lifecycle at once: it takes the claim's first steps). What must not: a decision or the end of a
 * reconnect window reads a user's flows, so the lifecycle first has the thread release that user's spans and starts
 * (a 'sync' naming the user, DataplaneThread.settle); a user no longer granted at once has them released before
 * anything else the thread says about it. If the thread dies, what it held dies with it, as the flow events its
 * outbox held do: at most holdMs of a user's completed requests, and its requests in flight.
 *
 * Pure: no timers, no I/O; time comes in as arguments, spans go out through `release` and starts through
 * `releaseStart`.
 */
import { growSpan, joinsSpan } from '../core/flow-span.ts';

/** SpanHoldSettings: the fold's rule (as the store's: lifecycle.graceMs and flowSpanMs) and how long spans wait. */
export interface SpanHoldSettings {
  /** gapMs: the longest pause between two streams of a span (the lifecycle's graceMs). */
  readonly gapMs: number;
  /** spanMs: the longest a span may last, first start to last end (lifecycle.flowSpanMs, > 0). */
  readonly spanMs: number;
  /** holdMs: about how long a user's spans wait before they are released (extProc.spanHoldMs, > 0). */
  readonly holdMs: number;
  /**
   * startHoldMs: about how long a flow start waits for its end (default: START_HOLD_MS, at most holdMs). A start
   * still open then is released with its user's spans, so a long-lived stream shows as open that soon.
   */
  readonly startHoldMs?: number;
}

/**
 * START_HOLD_MS: a request answered in under this long is one message to the main thread instead of two or three.
 * Requests through Envoy take milliseconds; a stream open longer (server-sent events, WebSocket) is shown as open
 * in the store and the admin API this late at most.
 */
export const START_HOLD_MS = 250;

/** HeldSpan is one span: the first stream's id and start, the latest start, the last end and how many streams. */
export interface HeldSpan {
  readonly id: string;
  readonly user: string;
  readonly appServer: string | null;
  readonly startedAt: number;
  lastStartedAt: number;
  endedAt: number;
  streams: number;
}

/**
 * HeldStart is a flow start held while its request runs: its server can still change (upstream); heldAt is when
 * it was held (the hold's monotonic clock).
 */
export interface HeldStart {
  readonly id: string;
  readonly user: string;
  appServer: string | null;
  readonly startedAt: number;
  readonly heldAt: number;
}

/**
 * Held is one user's spans (usually one: a user's requests go to one server), the starts of its flows still open
 * (by flow id, in the order they started; null until the first), and when the first of them was held.
 */
interface Held {
  readonly since: number;
  readonly spans: HeldSpan[];
  starts: Map<string, HeldStart> | null;
}

/** SpanHold holds completed flows per user, folded into spans, and releases them after holdMs or when asked. */
export class SpanHold {
  /** #held: per user, in the order each user's first span was held, so the oldest come first. */
  readonly #held = new Map<string, Held>();
  /** #startsByAge: every held start (the same objects as its user's Held.starts), by flow id, oldest first. */
  readonly #startsByAge = new Map<string, HeldStart>();
  /** startHoldMs: see SpanHoldSettings. */
  readonly startHoldMs: number;

  constructor(
    readonly settings: SpanHoldSettings,
    private readonly release: (span: HeldSpan) => void,
    private readonly releaseStart: (start: HeldStart) => void = () => {
      throw new Error('SpanHold: a start was held without releaseStart');
    },
  ) {
    this.startHoldMs = settings.startHoldMs ?? Math.min(START_HOLD_MS, settings.holdMs);
    for (const k of ['gapMs', 'spanMs', 'holdMs', 'startHoldMs'] as const) {
      const v = k === 'startHoldMs' ? this.startHoldMs : settings[k];
      if (!Number.isInteger(v) || v < (k === 'gapMs' ? 0 : 1)) throw new Error(`SpanHold: ${k} must be an integer >= ${k === 'gapMs' ? 0 : 1}, not ${v}`);
    }
    if (this.startHoldMs > settings.holdMs) throw new Error(`SpanHold: startHoldMs (${this.startHoldMs}) must not exceed holdMs (${settings.holdMs})`);
  }

  /**
   * add holds a completed flow: it joins the user's span for its server, or starts one (a span it replaces is
   * released now); a flow older than the held span (one it cannot join without moving the span's start) is
   * released at once as it is.
   */
  add(id: string, user: string, appServer: string | null, startedAt: number, endedAt: number, now: number): void {
    const held = this.#held.get(user);
    if (!held) {
      this.#held.set(user, { since: now, spans: [single(id, user, appServer, startedAt, endedAt)], starts: null });
      return;
    }
    const spans = held.spans;
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i]!;
      if (s.appServer !== appServer) continue;
      if (joinsSpan(s.startedAt, s.endedAt, startedAt, endedAt, this.settings.gapMs, this.settings.spanMs)) growSpan(s, startedAt, endedAt, 1);
      else if (endedAt >= s.endedAt) {
        this.release(s);
        spans[i] = single(id, user, appServer, startedAt, endedAt);
      } else this.release(single(id, user, appServer, startedAt, endedAt));
      return;
    }
    spans.push(single(id, user, appServer, startedAt, endedAt));
  }

  /** start holds the start of a flow of a user granted at once, until its end or its user's release. */
  start(id: string, user: string, appServer: string | null, startedAt: number, now: number): void {
    let held = this.#held.get(user);
    if (!held) {
      held = { since: now, spans: [], starts: null };
      this.#held.set(user, held);
    }
    const start: HeldStart = { id, user, appServer, startedAt, heldAt: now };
    (held.starts ??= new Map()).set(id, start);
    this.#startsByAge.set(id, start);
  }

  /** upstream notes the server of a held start; false if the start is not held (the caller reports it). */
  upstream(id: string, user: string, appServer: string): boolean {
    const start = this.#held.get(user)?.starts?.get(id);
    if (!start) return false;
    start.appServer = appServer;
    return true;
  }

  /**
   * end takes the end of a flow whose start is held: completed, the flow joins the user's spans and true is
   * returned (nothing to report). Otherwise (a start not held, or an end that is not 'completed', which the
   * lifecycle must hear of as it is) false: then the user's held spans and starts have been released, this start
   * with them, and the caller reports the end.
   */
  end(id: string, user: string, endedAt: number, completed: boolean, now: number): boolean {
    const starts = this.#held.get(user)?.starts;
    const start = starts?.get(id);
    if (!start) return false;
    if (!completed) {
      this.releaseUser(user);
      return false;
    }
    starts!.delete(id);
    this.#startsByAge.delete(id);
    this.add(id, user, start.appServer, start.startedAt, endedAt, now);
    return true;
  }

  /**
   * releaseDue releases, oldest first, what every user holds whose first span or start has waited holdMs at `now`,
   * or one of whose starts has waited startHoldMs (a monotonic clock; the caller checks every checkEveryMs, so
   * spans wait about holdMs and starts about startHoldMs).
   */
  releaseDue(now: number): void {
    for (const [user, held] of this.#held) {
      if (now - held.since < this.settings.holdMs) break;
      this.#held.delete(user);
      this.#releaseHeld(held);
    }
    for (const [, start] of this.#startsByAge) {
      if (now - start.heldAt < this.startHoldMs) break;
      this.releaseUser(start.user);
    }
  }

  /** checkEveryMs is how often the owner should call releaseDue. */
  get checkEveryMs(): number {
    return Math.max(10, Math.round(Math.min(this.settings.holdMs / 8, this.startHoldMs / 4)));
  }

  /** releaseUser releases the user's spans now (a read of the user's flows, or the user no longer granted at once). */
  releaseUser(user: string): void {
    const held = this.#held.get(user);
    if (!held) return;
    this.#held.delete(user);
    this.#releaseHeld(held);
  }

  /** releaseAll releases every span now (a sync for all users, or the thread stopping). */
  releaseAll(): void {
    const all = [...this.#held.values()];
    this.#held.clear();
    for (const held of all) this.#releaseHeld(held);
  }

  /**
   * #releaseHeld releases one user's spans in the order they ended, then its open starts in the order they
   * started: the lifecycle takes a user's server from the flows it hears of, so the last one released must be the
   * latest (an open flow is the user's current one).
   */
  #releaseHeld(held: Held): void {
    if (held.spans.length > 1) held.spans.sort((a, b) => a.endedAt - b.endedAt);
    for (const s of held.spans) this.release(s);
    if (!held.starts) return;
    for (const s of held.starts.values()) {
      this.#startsByAge.delete(s.id);
      this.releaseStart(s);
    }
  }

  /** users is how many users have spans or starts held (for tests and diagnostics). */
  get users(): number {
    return this.#held.size;
  }

  /** starts is how many flow starts are held (for tests and diagnostics). */
  get starts(): number {
    return this.#startsByAge.size;
  }
}

function single(id: string, user: string, appServer: string | null, startedAt: number, endedAt: number): HeldSpan {
  return { id, user, appServer, startedAt, lastStartedAt: startedAt, endedAt, streams: 1 };
}
