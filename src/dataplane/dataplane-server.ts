/**
 * The data-path gRPC server Envoy calls on every request (adapter on node:http2, h2-grpc.ts: grpc-js's per-call
 * machinery cost more than presencelb's own work here). It serves two Envoy services on one port: ext_proc
 * (envoy.service.ext_proc.v3.ExternalProcessor: flow starts, identity, upstream) and the access log service
 * (envoy.service.accesslog.v3.AccessLogService: flow ends). Both share the table of open flows.
 *
 * Its load is visible in the log: whenever it changed, at most every STATS_LOG_INTERVAL_MS, one debug line
 * `{dataplane: {openStreams, openFlows, streamsTotal, flowsTotal}}` (message 'dataplane counts'). Open counts
 * return to what they were once Envoy's streams are over; the totals only grow, so a reader can tell a fresh
 * line from an old one. Tests of the child process read these lines to prove nothing leaks.
 */
import type { AppServer, Clock, Logger } from '../core/ports.ts';
import { serviceDefinition } from '../protos/envoy.ts';
import type { TlsPem } from '../tls-credentials.ts';
import { AccessLogReceiver, type WireHttpLogEntry } from './access-log.ts';
import type { FlowSink } from './flow-sink.ts';
import { ProcessStream, type StreamContext, type WireProcessingRequest } from './ext-proc-stream.ts';
import { H2GrpcServer, type CallHandlers, type GrpcCall, type GrpcMethod } from './h2-grpc.ts';
import type { IdentitySettings } from './identity.ts';
import { OpenFlows } from './open-flows.ts';
import type { PinLookup } from './pin-table.ts';
import { parseFlowLogLine } from './flow-log.ts';
import { FlowLogTail, type FlowLogSettings } from './flow-log-tail.ts';
import { ACCESS_LOG_KEEP, PROCESSING_REQUEST_KEEP, prunedDecoder } from './wire-decoding.ts';

/** STATS_LOG_INTERVAL_MS is the shortest time between two 'dataplane counts' log lines. */
export const STATS_LOG_INTERVAL_MS = 250;

/** DataplaneOptions configure the server; fixed at construction. */
export interface DataplaneOptions {
  readonly identity: IdentitySettings;
  readonly appServers: readonly AppServer[];
  readonly flows: FlowSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** pins and pinHeader steer pinned users (config xds.pins: header); see ext-proc-stream.ts. */
  readonly pins?: PinLookup;
  readonly pinHeader?: string;
  /** maxMessageBytes bounds one message (headers only, or a batch of access log entries): 4 MiB by default. */
  readonly maxMessageBytes?: number;
  /** flowLog: Envoy's flow log files to follow (config extProc.flowLog; flow-log.ts), read like the access log. */
  readonly flowLog?: FlowLogSettings;
}

interface WireAlsMessage {
  http_logs?: { log_entry?: WireHttpLogEntry[] };
}

/** DataplaneServer serves ext_proc and the access log service. */
export class DataplaneServer {
  private readonly server: H2GrpcServer;
  private readonly streams = new Set<ProcessStream>();
  private readonly open = new OpenFlows();
  private readonly ctx: StreamContext;
  private readonly accessLog: AccessLogReceiver;
  private readonly flowLogs: FlowLogTail[];
  /** badLines: flow log lines that were not entries since the last warning (logged at most every 10 s). */
  private badLines = { count: 0, lastWarned: 0 };
  private readonly totals = { streams: 0, flows: 0 };
  private statsTimer: NodeJS.Timeout | null = null;
  /** expiry ends flows whose periodic access log entries stopped coming (AccessLogReceiver.expire), every second. */
  private readonly expiry: NodeJS.Timeout;
  private lastStats = '';

  constructor(private readonly o: DataplaneOptions) {
    const serverByCluster = new Map(o.appServers.map((s) => [s.name, s.name]));
    this.ctx = {
      identity: o.identity,
      flows: {
        flowStarted: (flow, grant) => {
          this.totals.flows++;
          this.changed();
          o.flows.flowStarted(flow, grant);
        },
        flowUpstream: (id, user, server) => o.flows.flowUpstream(id, user, server),
        flowEnded: (id, user, at, reason) => {
          this.changed();
          o.flows.flowEnded(id, user, at, reason);
        },
        flowRecorded: (flow, endedAt, reason) => {
          this.totals.flows++;
          this.changed();
          o.flows.flowRecorded(flow, endedAt, reason);
        },
      },
      open: this.open,
      ...(o.pins && o.pinHeader ? { pins: o.pins, pinHeader: o.pinHeader } : {}),
      clock: o.clock,
      log: o.log,
      serverByCluster,
    };
    this.accessLog = new AccessLogReceiver({
      identity: o.identity,
      open: this.open,
      flows: this.ctx.flows,
      now: () => o.clock.now(),
      log: o.log,
      serverByCluster,
      serverByAddress: new Map(o.appServers.map((s) => [`${s.host}:${s.port}`, s.name])),
    });
    this.flowLogs = (o.flowLog?.files ?? []).map(
      (file) => new FlowLogTail({ file, pollMs: o.flowLog!.pollMs, rotateBytes: o.flowLog!.rotateBytes, log: o.log, onLine: (line) => this.flowLogLine(file.path, line) }),
    );
    this.expiry = setInterval(() => {
      try {
        this.accessLog.expire();
      } catch (err) {
        o.log.error({ err: String(err) }, 'access log: expiry failed');
      }
    }, 1000);
    this.expiry.unref();
    this.server = new H2GrpcServer({
      maxMessageBytes: o.maxMessageBytes ?? 4 * 1024 * 1024,
      methods: [
        // Requests are decoded reading only what presencelb uses (wire-decoding.ts): Envoy sends much more.
        method<WireProcessingRequest>('envoy.service.ext_proc.v3.ExternalProcessor', 'Process', prunedDecoder('envoy.service.ext_proc.v3.ProcessingRequest', PROCESSING_REQUEST_KEEP), (call) => this.process(call)),
        method<WireAlsMessage>('envoy.service.accesslog.v3.AccessLogService', 'StreamAccessLogs', prunedDecoder('envoy.service.accesslog.v3.StreamAccessLogsMessage', ACCESS_LOG_KEEP), (call) => this.accessLogs(call)),
      ],
      onError: (e) => o.log.debug({ err: e.message }, 'data path connection error'),
    });
  }

  /**
   * start binds listen (host:port; port 0 picks one), plaintext, or TLS with tls's PEM material (mutual TLS when it
   * has a CA), and resolves with the bound port.
   */
  async start(listen: string, tls?: TlsPem): Promise<number> {
    const at = listen.lastIndexOf(':');
    const port = await this.server.listen(listen.slice(0, at), Number(listen.slice(at + 1)), tls);
    for (const tail of this.flowLogs) tail.start();
    return port;
  }

  /**
   * stop stops accepting streams, waits up to graceMs for open ones, then ends the rest. Flows still open are left
   * open in the store: the lifecycle closes them (reason shutdown) as it stops.
   */
  async stop(graceMs = 2000): Promise<void> {
    clearInterval(this.expiry);
    for (const tail of this.flowLogs) tail.stop();
    await this.server.close(graceMs);
    this.streams.clear();
    this.open.drain();
    if (this.statsTimer) clearTimeout(this.statsTimer);
    this.statsTimer = null;
  }

  /** changed schedules one 'dataplane counts' line (trailing edge: at most one per STATS_LOG_INTERVAL_MS). */
  private changed(): void {
    if (this.statsTimer) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = null;
      const dataplane = { openStreams: this.streams.size, openFlows: this.open.size, streamsTotal: this.totals.streams, flowsTotal: this.totals.flows };
      const line = JSON.stringify(dataplane);
      if (line === this.lastStats) return;
      this.lastStats = line;
      this.o.log.debug({ dataplane }, 'dataplane counts');
    }, STATS_LOG_INTERVAL_MS);
    this.statsTimer.unref();
  }

  private process(call: GrpcCall): CallHandlers<WireProcessingRequest> {
    const stream = new ProcessStream(this.ctx, { write: (m) => call.write(m), end: () => call.finish() });
    this.streams.add(stream);
    this.totals.streams++;
    this.changed();
    return {
      message: (req) => {
        try {
          stream.onMessage(req);
        } catch (e) {
          this.o.log.error({ err: String(e) }, 'ext_proc: message handling failed');
        }
      },
      // Envoy has nothing more to send: the stream ends with OK if it has not already.
      end: () => call.finish(),
      closed: () => {
        if (this.streams.delete(stream)) {
          stream.onEnd();
          this.changed();
        }
      },
    };
  }

  /** flowLogLine records one line of a flow log (flow-log.ts); a line that is no entry is counted and logged. */
  private flowLogLine(path: string, line: string): void {
    const r = parseFlowLogLine(line);
    if (!r.ok) {
      this.badLines.count++;
      const now = this.o.clock.now();
      if (now - this.badLines.lastWarned >= 10000) {
        this.o.log.warn({ code: 'FLOW_LOG_MALFORMED', path, lines: this.badLines.count, err: r.errors[0]!.message, line: line.slice(0, 200) }, 'flow log: lines that are not entries were skipped');
        this.badLines = { count: 0, lastWarned: now };
      }
      return;
    }
    if (!r.value) return;
    try {
      this.accessLog.onReport(r.value);
    } catch (err) {
      this.o.log.error({ err: String(err) }, 'flow log: entry handling failed');
    }
  }

  private accessLogs(call: GrpcCall): CallHandlers<WireAlsMessage> {
    return {
      message: (m) => {
        for (const e of m.http_logs?.log_entry ?? []) {
          try {
            this.accessLog.onEntry(e);
          } catch (err) {
            this.o.log.error({ err: String(err) }, 'access log: entry handling failed');
          }
        }
      },
      // StreamAccessLogs is client-streaming: one (empty) response once Envoy closes its side.
      end: () => {
        call.write({});
        call.finish();
      },
      closed: () => undefined,
    };
  }
}

/** method describes a streaming method of an Envoy service in the image, with requests decoded by decode. */
function method<Req>(service: string, name: string, decode: (buf: Buffer) => Req, handle: (call: GrpcCall) => CallHandlers<Req>): GrpcMethod<Req> {
  const m = serviceDefinition(service)[name];
  if (!m) throw new Error(`${service} has no method ${name}`);
  return { path: m.path, decode, encode: (msg) => m.responseSerialize(msg), handle };
}
