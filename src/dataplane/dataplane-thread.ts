/**
 * DataplaneThread runs the data path (ext_proc and the access log, dataplane-server.ts) in a worker thread
 * (thread-worker.ts), and connects it to the lifecycle in the main thread:
 * - flow starts, upstreams and ends from the worker go to the FlowSink (the Lifecycle), in the order Envoy's
 *   messages came;
 * - a flow start with a ticket is answered when the FlowSink grants it;
 * - onAccess (the Lifecycle's option of that name) and the pin table's changes are copied to the worker, which
 *   answers a user granted at once, and steers a pinned user, without asking the main thread;
 * - the worker sends the other flow events in batches, at most batchMs apart; settle() (the Lifecycle's
 *   flowsSettled) has it send what it holds, so a decision sees every flow that started before it. With Envoy's
 *   access log as the only source (envoy/envoy-access-log.yaml), Envoy itself reports a flow up to reportLagMs
 *   late, and settle() first waits that long when the caller is about to read flows.
 *
 * Why a thread: the main thread's heap holds every user's presence state, and its full collections stopped requests
 * for hundreds of milliseconds (ARCHITECTURE.md, "The data path in its own thread").
 *
 * If the worker dies, the flows it had reported open are ended (reason presencelb_restart; events and spans it still
 * held die with it), and a new worker is started on the same port about restartDelayMs later (doubled after each failed
 * restart); meanwhile Envoy lets requests through untracked (failure_mode_allow).
 */
import { Worker } from 'node:worker_threads';
import type { AppServer, Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import type { TlsPem } from '../tls-credentials.ts';
import type { FlowLogSettings } from './flow-log-tail.ts';
import type { FlowSink } from './flow-sink.ts';
import type { IdentitySettings } from './identity.ts';
import type { PinTable } from './pin-table.ts';
import type { SpanHoldSettings } from './span-hold.ts';
import { Outbox, type FromThread, type ThreadInit, type ToThread } from './thread-protocol.ts';

/** DataplaneThreadOptions are fixed at construction. */
export interface DataplaneThreadOptions {
  readonly identity: IdentitySettings;
  readonly appServers: readonly AppServer[];
  readonly log: Logger;
  /** pinHeader is set with config xds.pins: header; the pin table is then given to start(). */
  readonly pinHeader?: string;
  readonly maxMessageBytes?: number;
  /** restartDelayMs: how long after a worker died a new one is started (1 s by default). */
  readonly restartDelayMs?: number;
  /** batchMs: how long the worker may hold flow events before sending them (10 ms by default); settle() flushes them. */
  readonly batchMs?: number;
  /**
   * settleTimeoutMs bounds settle()'s wait for a worker that does not answer (1 s by default). It is long because the
   * timer can fire before a waiting answer is read when the main thread itself was busy that long: with 100 ms, the
   * presence benchmark at 500 decisions/s logged two such false timeouts (09:42).
   */
  readonly settleTimeoutMs?: number;
  /**
   * reportLagMs: how long after an instant Envoy may still report a flow that was open at it (config
   * extProc.accessLogLagMs). 0 when ext_proc reports each start at request headers; in access-log mode, the periodic
   * flush interval plus the batch interval and a margin. settle() waits this long before it flushes the worker.
   */
  readonly reportLagMs?: number;
  /** flowLog: Envoy's flow log files the worker follows (config extProc.flowLog; flow-log.ts). */
  readonly flowLog?: FlowLogSettings;
  /**
   * spanHold: the worker folds completed flows of users granted at once into spans and holds them up to holdMs
   * (span-hold.ts; config extProc.spanHoldMs); settle() for a user releases that user's. Unset: none is held.
   */
  readonly spanHold?: SpanHoldSettings;
}

/** ThreadStart is what start() connects the worker to. */
export interface ThreadStart {
  readonly listen: string;
  readonly tls?: TlsPem;
  readonly flows: FlowSink;
  readonly pins?: PinTable;
}

const ENTRY = new URL('./thread-entry.mjs', import.meta.url);

/** DataplaneThread is the main thread's handle on the data-path worker. */
export class DataplaneThread {
  /** atOnce mirrors the lifecycle's onAccess from construction on, so the worker starts from the full set. */
  private readonly atOnce = new Set<string>();
  /** open are the flows the worker reported started and not ended: what to end if the worker dies. */
  private readonly open = new Map<string, string>();
  private worker: Worker | null = null;
  private outbox: Outbox<ToThread> | null = null;
  private conn: ThreadStart | null = null;
  private port = 0;
  private stopping = false;
  private unwatchPins: () => void = () => {};
  private restartTimer: NodeJS.Timeout | null = null;
  private failedRestarts = 0;
  /** stopped resolves stop() when the worker says it has stopped. */
  private stopped: (() => void) | null = null;
  private readonly syncs = new Map<number, () => void>();
  private syncIds = 0;

  constructor(private readonly o: DataplaneThreadOptions) {}

  /** onAccess is the Lifecycle's onAccess option: the users the worker may grant at once. */
  readonly onAccess = (user: UserId, atOnce: boolean): void => {
    if (atOnce) this.atOnce.add(user);
    else this.atOnce.delete(user);
    this.outbox?.send(['access', user, atOnce ? 1 : 0]);
  };

  /**
   * start starts the worker, listening on listen (host:port; port 0 picks one), with TLS when tls is given, and
   * resolves with the bound port; it rejects with the worker's error when the server cannot start.
   */
  async start(s: ThreadStart): Promise<number> {
    this.conn = s;
    this.unwatchPins = s.pins?.watch((user, server) => this.outbox?.send(['pin', user, server ?? null])) ?? (() => {});
    this.port = await this.spawn(s.listen);
    return this.port;
  }

  /**
   * settle resolves once the flow events the worker held have been handed to the FlowSink, or after
   * settleTimeoutMs if the worker does not answer (at once when no worker runs). Spans the worker holds
   * (spanHold) are released for the user given, or for every user without one. When the caller reads flows
   * (readFlows, the default), it first waits reportLagMs, for the flows Envoy reports late.
   */
  readonly settle = async (o: { readonly readFlows?: boolean; readonly user?: UserId } = {}): Promise<void> => {
    const lag = o.readFlows === false ? 0 : (this.o.reportLagMs ?? 0);
    if (lag > 0) await new Promise((resolve) => setTimeout(resolve, lag));
    return this.sync(o.user ?? null);
  };

  /** sync resolves once the flow events the worker holds now have been handed to the FlowSink (see settle). */
  private sync(user: UserId | null): Promise<void> {
    const out = this.outbox;
    if (!out) return Promise.resolve();
    const id = ++this.syncIds;
    return new Promise<void>((resolve) => {
      const limit = this.o.settleTimeoutMs ?? 1000;
      const timer = setTimeout(() => {
        this.o.log.warn({ waitedMs: limit }, 'data path thread did not answer in time: deciding with the flow events received so far');
        done();
      }, limit);
      const syncs = this.syncs;
      function done(): void {
        clearTimeout(timer);
        syncs.delete(id);
        resolve();
      }
      this.syncs.set(id, done);
      out.send(['sync', id, user], true);
    });
  }

  /** openFlows is the number of flows the worker has reported started and not yet ended. */
  get openFlows(): number {
    return this.open.size;
  }

  /** threadId is the worker's thread id (changes when a worker is replaced); -1 when none runs. */
  get threadId(): number {
    return this.worker?.threadId ?? -1;
  }

  /**
   * stop stops the worker's server (waiting up to graceMs for open streams), once every op it sent has been handed
   * to the FlowSink, and ends the worker.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.unwatchPins();
    const w = this.worker;
    if (w) {
      await new Promise<void>((resolve) => {
        // A worker that does not answer (stuck, or still starting) is ended when graceMs and 2 s more are over.
        const timer = setTimeout(done, graceMs + 2000);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        w.once('exit', done);
        this.stopped = done;
        this.outbox!.send(['stop', graceMs]);
      });
      this.stopped = null;
      await w.terminate();
    }
    for (const done of [...this.syncs.values()]) done();
    this.worker = null;
    this.outbox = null;
  }

  /** spawn starts a worker on listen and resolves with its port once it is listening. */
  private spawn(listen: string): Promise<number> {
    const s = this.conn!;
    const init: ThreadInit = {
      listen,
      tls: s.tls ?? null,
      identity: this.o.identity,
      appServers: this.o.appServers,
      pinHeader: this.o.pinHeader ?? null,
      pins: s.pins ? s.pins.pins().map((p) => [p.user, p.appServer] as const) : [],
      atOnce: [...this.atOnce],
      maxMessageBytes: this.o.maxMessageBytes ?? null,
      batchMs: this.o.batchMs ?? 10,
      flowLog: this.o.flowLog && this.o.flowLog.files.length > 0 ? this.o.flowLog : null,
      spanHold: this.o.spanHold ?? null,
    };
    const w = new Worker(ENTRY, { workerData: init, name: 'presencelb-dataplane' });
    const out = new Outbox<ToThread>((batch) => w.postMessage(batch));
    this.worker = w;
    this.outbox = out;
    return new Promise<number>((resolve, reject) => {
      let ready = false;
      // A worker that could not listen is ended; it is not restarted (start() or the restart timer decides).
      const failed = (e: Error) => {
        if (this.worker === w) {
          this.worker = null;
          this.outbox = null;
        }
        void w.terminate();
        reject(e);
      };
      w.on('message', (batch: FromThread[]) => {
        for (const op of batch) {
          if (op[0] === 'ready') {
            ready = true;
            resolve(op[1]);
          } else if (op[0] === 'fail') {
            failed(Object.assign(new Error(op[1]), op[2] ? { code: op[2] } : {}));
          } else this.handle(op, out);
        }
      });
      w.on('error', (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.o.log.error({ err: err.message, stack: err.stack }, 'data path thread failed');
        if (!ready) failed(err);
      });
      w.on('exit', (code) => {
        if (this.worker !== w) return; // replaced, failed before it listened, or stopped
        this.worker = null;
        this.outbox = null;
        if (!ready) reject(new Error(`data path thread exited (code ${code}) before it listened`));
        else if (!this.stopping) this.died(code);
      });
    });
  }

  /** handle hands one op of the worker behind out to the FlowSink (or to stop() and settle()). */
  private handle(op: FromThread, out: Outbox<ToThread>): void {
    const flows = this.conn!.flows;
    switch (op[0]) {
      case 'start': {
        const [, id, user, appServer, startedAt, ticket, held] = op;
        this.open.set(id, user);
        // Tickets are numbered per worker: a grant that comes after its worker was replaced goes nowhere.
        const grant = ticket === 0 ? noop : () => this.outbox === out && out.send(['grant', ticket]);
        flows.flowStarted(held === 1 ? { id, user: user as UserId, appServer, startedAt, held: true } : { id, user: user as UserId, appServer, startedAt }, grant);
        break;
      }
      case 'upstream':
        flows.flowUpstream(op[1], op[2] as UserId, op[3]);
        break;
      case 'end':
        this.open.delete(op[1]);
        flows.flowEnded(op[1], op[2] as UserId, op[3], op[4]);
        break;
      case 'whole': {
        const [, id, user, appServer, startedAt, endedAt, reason, streams, lastStartedAt] = op;
        const flow = streams === undefined ? { id, user: user as UserId, appServer, startedAt } : { id, user: user as UserId, appServer, startedAt, streams, lastStartedAt: lastStartedAt ?? startedAt };
        flows.flowRecorded(flow, endedAt, reason);
        break;
      }
      case 'log':
        this.o.log[op[1]](op[2], op[3]);
        break;
      case 'synced':
        this.syncs.get(op[1])?.();
        break;
      case 'stopped':
        this.stopped?.();
        break;
    }
  }

  /**
   * died ends the flows the dead worker had reported open (the events it still held, at most batchMs of them, and
   * the spans it held, about spanHold.holdMs of them, died with it) and starts a new worker on the same port after
   * restartDelayMs, doubled after each failed restart.
   */
  private died(code: number): void {
    if (this.stopping) return;
    const now = Date.now();
    const lost = [...this.open];
    this.open.clear();
    for (const done of [...this.syncs.values()]) done();
    for (const [id, user] of lost) this.conn!.flows.flowEnded(id, user as UserId, now, 'presencelb_restart');
    const delay = (this.o.restartDelayMs ?? 1000) * 2 ** Math.min(this.failedRestarts, 5);
    this.o.log.error({ exitCode: code, openFlowsEnded: lost.length, restartInMs: delay }, 'data path thread exited: flows it had open are ended; a new one starts');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn(`${hostOf(this.conn!.listen)}:${this.port}`).then(
        () => {
          this.failedRestarts = 0;
          this.o.log.info({ port: this.port }, 'data path thread restarted');
        },
        (e: unknown) => {
          this.failedRestarts++;
          this.o.log.error({ err: String(e) }, 'data path thread could not restart');
          this.died(-1);
        },
      );
    }, delay);
    this.restartTimer.unref();
  }

  /** kill ends the worker as a crash would (tests of the restart). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }
}

function noop(): void {}

function hostOf(listen: string): string {
  return listen.slice(0, listen.lastIndexOf(':'));
}
