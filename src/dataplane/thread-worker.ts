/**
 * The data-path thread: runs the DataplaneServer (ext_proc and the access log) in a worker thread of its own, so the
 * request path runs on its own V8 heap. The main thread's heap holds every user's presence state (SIP.js objects,
 * sessions); its full garbage collections stopped the request path for hundreds of milliseconds (ARCHITECTURE.md,
 * "The data path in its own thread"). This heap holds only what requests need.
 *
 * The lifecycle stays in the main thread. The worker keeps two copies of its state, which the main thread updates:
 * - the users granted at once (core/session.ts, grantsAtOnce). A flow of such a user is granted here, and its start
 *   held (below) or reported; a flow of any other user is reported with a ticket and waits for the lifecycle's grant;
 * - the pin table (config xds.pins: header), for the pin header.
 * Flow starts, upstreams, ends and log lines go to the main thread in batches (thread-protocol.ts). The flows of
 * users granted at once are held first, up to about init.spanHold.holdMs (span-hold.ts): a completed one, reported
 * whole (access-log and flow-log modes) or seen to start and end (ext_proc, then the access log), is folded into
 * the user's spans; a start still open when the user's flows are released goes as a start marked held.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FlowStart } from '../core/lifecycle.ts';
import type { Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { systemClock } from '../clock.ts';
import { DataplaneServer } from './dataplane-server.ts';
import type { FlowSink } from './flow-sink.ts';
import { SpanHold, type HeldSpan, type HeldStart } from './span-hold.ts';
import { Outbox, type FromThread, type LogLevel, type ThreadInit, type ToThread } from './thread-protocol.ts';

const port = parentPort;
if (!port) throw new Error('thread-worker.ts runs only as a worker thread (dataplane-thread.ts starts it)');
const init = workerData as ThreadInit;
// Flow events wait up to init.batchMs, so that the main thread is not woken for every request; the lifecycle asks
// for them ('sync') before it reads a user's flows. A flow start waiting for its grant, and every answer to the main
// thread, go at the end of the current turn.
const out = new Outbox<FromThread>((batch) => port.postMessage(batch), init.batchMs);
const atOnce = new Set<string>(init.atOnce);
const pins = new Map<string, string>(init.pins);
const waiting = new Map<number, () => void>();
let tickets = 0;
const hold = init.spanHold ? new SpanHold(init.spanHold, sendSpan, sendHeldStart) : null;
// The hold's clock is monotonic (a step of the wall clock would hold spans that much longer or shorter).
if (hold) setInterval(() => hold.releaseDue(performance.now()), hold.checkEveryMs).unref();

/** sendSpan sends a released span; its streams field says it was held, even a single stream (see Lifecycle.flowRecorded). */
function sendSpan(s: HeldSpan): void {
  out.send(['whole', s.id, s.user, s.appServer, s.startedAt, s.endedAt, 'completed', s.streams, s.lastStartedAt]);
}

/** sendHeldStart sends a start released from the hold, marked held (see Lifecycle.flowStarted). */
function sendHeldStart(s: HeldStart): void {
  out.send(['start', s.id, s.user, s.appServer, s.startedAt, 0, 1]);
}

const flows: FlowSink = {
  flowStarted(flow: FlowStart, grant: () => void) {
    if (atOnce.has(flow.user)) {
      grant();
      if (hold) hold.start(flow.id, flow.user, flow.appServer, flow.startedAt, performance.now());
      else out.send(['start', flow.id, flow.user, flow.appServer, flow.startedAt, 0]);
      return;
    }
    const ticket = ++tickets;
    waiting.set(ticket, grant);
    out.send(['start', flow.id, flow.user, flow.appServer, flow.startedAt, ticket], true);
  },
  flowUpstream(id, user, server) {
    if (!hold?.upstream(id, user, server)) out.send(['upstream', id, user, server]);
  },
  flowEnded(id, user, at, reason) {
    if (!hold?.end(id, user, at, reason === 'completed', performance.now())) out.send(['end', id, user, at, reason]);
  },
  flowRecorded(flow, endedAt, reason) {
    const granted = atOnce.has(flow.user);
    if (hold && granted && reason === 'completed') return hold.add(flow.id, flow.user, flow.appServer, flow.startedAt, endedAt, performance.now());
    // A user not granted at once is new (or degraded): the lifecycle's setup starts at the end of this turn.
    out.send(['whole', flow.id, flow.user, flow.appServer, flow.startedAt, endedAt, reason], !granted);
  },
};

const log = remoteLogger({});
const server = new DataplaneServer({
  identity: init.identity,
  appServers: init.appServers,
  flows,
  clock: systemClock,
  log,
  ...(init.pinHeader ? { pins: { serverFor: (u: UserId) => pins.get(u) }, pinHeader: init.pinHeader } : {}),
  ...(init.maxMessageBytes ? { maxMessageBytes: init.maxMessageBytes } : {}),
  ...(init.flowLog ? { flowLog: init.flowLog } : {}),
});

port.on('message', (batch: ToThread[]) => {
  for (const op of batch) {
    switch (op[0]) {
      case 'access':
        if (op[2] === 1) atOnce.add(op[1]);
        else {
          // What was held for the user goes before anything else said about it from here on.
          hold?.releaseUser(op[1]);
          atOnce.delete(op[1]);
        }
        break;
      case 'pin':
        if (op[2] === null) pins.delete(op[1]);
        else pins.set(op[1], op[2]);
        break;
      case 'grant': {
        const grant = waiting.get(op[1]);
        waiting.delete(op[1]);
        grant?.();
        break;
      }
      case 'sync':
        if (op[2] === null) hold?.releaseAll();
        else hold?.releaseUser(op[2]);
        out.send(['synced', op[1]], true);
        break;
      case 'stop':
        void server.stop(op[1]).then(() => {
          hold?.releaseAll();
          out.send(['stopped']);
          out.flush();
          port.close();
        });
        break;
    }
  }
});

const tls = init.tls && { cert: Buffer.from(init.tls.cert), key: Buffer.from(init.tls.key), ca: init.tls.ca && Buffer.from(init.tls.ca) };
server.start(init.listen, tls ?? undefined).then(
  (p) => out.send(['ready', p], true),
  (e: unknown) => out.send(['fail', e instanceof Error ? e.message : String(e), (e as { code?: string }).code ?? null], true),
);

/** remoteLogger is a Logger whose lines are written by the main thread's logger (the same destination). */
function remoteLogger(bindings: Record<string, unknown>): Logger {
  const line = (level: LogLevel) => (obj: object, msg?: string) => out.send(['log', level, { ...bindings, ...obj }, msg]);
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), child: (b) => remoteLogger({ ...bindings, ...b }) };
}
