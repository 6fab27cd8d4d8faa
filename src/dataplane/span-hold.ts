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
 * What may wait: only completed flows of users the lifecycle grants at once (a new or degraded user's flow must
 * reach the lifecycle at once: it takes the claim's first steps). What must not: a decision or the end of a
 * reconnect window reads a user's flows, so the lifecycle first has the thread release that user's spans (a 'sync'
 * naming the user, DataplaneThread.settle); a user no longer granted at once has its spans released before anything
 * else the thread says about it. If the thread dies, the spans it held die with it, as the flow events its outbox
 * held do: at most holdMs of a user's completed requests.
 *
 * Pure: no timers, no I/O; time comes in as arguments, spans go out through `release`.
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
}

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

/** Held is one user's spans (usually one: a user's requests go to one server) and when the first was held. */
interface Held {
  readonly since: number;
  readonly spans: HeldSpan[];
}

/** SpanHold holds completed flows per user, folded into spans, and releases them after holdMs or when asked. */
export class SpanHold {
  /** #held: per user, in the order each user's first span was held, so the oldest come first. */
  readonly #held = new Map<string, Held>();

  constructor(
    readonly settings: SpanHoldSettings,
    private readonly release: (span: HeldSpan) => void,
  ) {
    for (const k of ['gapMs', 'spanMs', 'holdMs'] as const) {
      const v = settings[k];
      if (!Number.isInteger(v) || v < (k === 'gapMs' ? 0 : 1)) throw new Error(`SpanHold: ${k} must be an integer >= ${k === 'gapMs' ? 0 : 1}, not ${v}`);
    }
  }

  /**
   * add holds a completed flow: it joins the user's span for its server, or starts one (a span it replaces is
   * released now); a flow older than the held span (one it cannot join without moving the span's start) is
   * released at once as it is.
   */
  add(id: string, user: string, appServer: string | null, startedAt: number, endedAt: number, now: number): void {
    const held = this.#held.get(user);
    if (!held) {
      this.#held.set(user, { since: now, spans: [single(id, user, appServer, startedAt, endedAt)] });
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

  /**
   * releaseDue releases, oldest first, the spans of every user whose first span has waited holdMs at `now` (a
   * monotonic clock; the caller checks every holdMs / 8, so spans wait about holdMs).
   */
  releaseDue(now: number): void {
    for (const [user, held] of this.#held) {
      if (now - held.since < this.settings.holdMs) return;
      this.#held.delete(user);
      this.#releaseHeld(held);
    }
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
   * #releaseHeld releases one user's spans in the order they ended: the lifecycle takes a user's server from the
   * flows it hears of, so the last one released must be the one that ended last.
   */
  #releaseHeld(held: Held): void {
    if (held.spans.length > 1) held.spans.sort((a, b) => a.endedAt - b.endedAt);
    for (const s of held.spans) this.release(s);
  }

  /** users is how many users have spans held (for tests and diagnostics). */
  get users(): number {
    return this.#held.size;
  }
}

function single(id: string, user: string, appServer: string | null, startedAt: number, endedAt: number): HeldSpan {
  return { id, user, appServer, startedAt, lastStartedAt: startedAt, endedAt, streams: 1 };
}
