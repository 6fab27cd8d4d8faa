/**
 * What the data-path thread (thread-worker.ts) and presencelb's main thread (dataplane-thread.ts) say to each other.
 * Each side sends batches: one postMessage carries every op queued in one turn of its event loop, in order. Ops are
 * flat tuples, which cost the least to copy between threads.
 */
import type { AppServer, FlowEndReason } from '../core/ports.ts';
import type { TlsPem } from '../tls-credentials.ts';
import type { FlowLogSettings } from './flow-log-tail.ts';
import type { IdentitySettings } from './identity.ts';
import type { SpanHoldSettings } from './span-hold.ts';

/** ThreadInit is the worker's workerData: its settings, and the copies of the main thread's state it starts from. */
export interface ThreadInit {
  readonly listen: string;
  readonly tls: TlsPem | null;
  readonly identity: IdentitySettings;
  readonly appServers: readonly AppServer[];
  /** pinHeader is set with config xds.pins: header; pins is then the pin table's content (user, server). */
  readonly pinHeader: string | null;
  readonly pins: readonly (readonly [string, string])[];
  /** atOnce are the users the lifecycle grants at once (core/session.ts, grantsAtOnce). */
  readonly atOnce: readonly string[];
  readonly maxMessageBytes: number | null;
  /** batchMs: how long flow events may wait in the worker before they are sent (see thread-worker.ts). */
  readonly batchMs: number;
  /** flowLog: the flow log files the worker follows (config extProc.flowLog), or null. */
  readonly flowLog: FlowLogSettings | null;
  /** spanHold: how the worker folds and holds completed flows of users granted at once (span-hold.ts), or null. */
  readonly spanHold: SpanHoldSettings | null;
}

/** LogLevel is a Logger method the worker's lines are written with in the main thread. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** ToThread is one op from the main thread. */
export type ToThread =
  /** access: the user is now granted at once (1) or not (0). */
  | readonly ['access', user: string, atOnce: 0 | 1]
  /** pin: the user's pin is now server, or none (null). */
  | readonly ['pin', user: string, server: string | null]
  /** grant: the lifecycle granted the flow start that carried this ticket. */
  | readonly ['grant', ticket: number]
  /**
   * sync: send every op queued before this one now, then 'synced' with the same id; with a user, that user's held
   * spans are released first (span-hold.ts), without one every user's.
   */
  | readonly ['sync', id: number, user: string | null]
  /** stop: stop serving, waiting up to graceMs for open streams; the worker answers 'stopped'. */
  | readonly ['stop', graceMs: number];

/** FromThread is one op from the worker. */
export type FromThread =
  /** ready: the server is listening on port. fail: it could not start (the error's message and code). */
  | readonly ['ready', port: number]
  | readonly ['fail', message: string, code: string | null]
  /**
   * start: a flow started. ticket 0: already granted (the user is granted at once); else answer with 'grant'.
   * held 1: a start the worker held while its request ran (span-hold.ts), released still open (FlowStart.held).
   */
  | readonly ['start', flowId: string, user: string, appServer: string | null, startedAt: number, ticket: number, held?: 1]
  | readonly ['upstream', flowId: string, user: string, appServer: string]
  | readonly ['end', flowId: string, user: string, endedAt: number, reason: FlowEndReason]
  /**
   * whole: a flow reported once it had ended (FlowSink.flowRecorded). One the worker held (span-hold.ts), a span or
   * a single stream, also carries how many streams it stands for and its latest start.
   */
  | readonly ['whole', flowId: string, user: string, appServer: string | null, startedAt: number, endedAt: number, reason: FlowEndReason, streams?: number, lastStartedAt?: number]
  | readonly ['log', level: LogLevel, obj: object, msg: string | undefined]
  /** synced: every op the worker had queued when it got 'sync' id comes before this one. */
  | readonly ['synced', id: number]
  /** stopped: the server is closed and every op before this one has been sent. */
  | readonly ['stopped'];

/**
 * Outbox queues ops and posts them as one batch: once the current turn of the event loop is over when an op is
 * urgent, else after delayMs (waking the other thread for every request costs both threads CPU, and Envoy is not
 * waiting for what is not urgent).
 */
export class Outbox<Op> {
  private ops: Op[] = [];
  private soon: NodeJS.Immediate | null = null;
  private later: NodeJS.Timeout | null = null;

  constructor(
    private readonly post: (batch: Op[]) => void,
    private readonly delayMs = 0,
  ) {}

  /** send queues op; urgent ops (a grant, or a flow start waiting for one) go out at the end of this turn. */
  send(op: Op, urgent = false): void {
    this.ops.push(op);
    if (this.soon) return;
    if (urgent || this.delayMs === 0) {
      this.soon = setImmediate(() => this.flush());
      return;
    }
    if (this.later) return;
    this.later = setTimeout(() => this.flush(), this.delayMs);
    this.later.unref();
  }

  /** flush posts what is queued now. */
  flush(): void {
    if (this.soon) clearImmediate(this.soon);
    if (this.later) clearTimeout(this.later);
    this.soon = null;
    this.later = null;
    if (this.ops.length === 0) return;
    const batch = this.ops;
    this.ops = [];
    this.post(batch);
  }
}
