/**
 * The data-path gRPC server Envoy calls on every request (grpc-js adapter). It serves two Envoy services on one
 * port: ext_proc (envoy.service.ext_proc.v3.ExternalProcessor: flow starts, identity, upstream) and the access log
 * service (envoy.service.accesslog.v3.AccessLogService: flow ends). Both share the table of open flows.
 *
 * Its load is visible in the log: whenever it changed, at most every STATS_LOG_INTERVAL_MS, one debug line
 * `{dataplane: {openStreams, openFlows, streamsTotal, flowsTotal}}` (message 'dataplane counts'). Open counts
 * return to what they were once Envoy's streams are over; the totals only grow, so a reader can tell a fresh
 * line from an old one. Tests of the child process read these lines to prove nothing leaks.
 */
import * as grpc from '@grpc/grpc-js';
import type { AppServer, Clock, Logger } from '../core/ports.ts';
import { serviceDefinition } from '../protos/envoy.ts';
import { AccessLogReceiver, type WireHttpLogEntry } from './access-log.ts';
import type { FlowSink } from './flow-sink.ts';
import { ProcessStream, type StreamContext, type WireProcessingRequest } from './ext-proc-stream.ts';
import type { IdentitySettings } from './identity.ts';
import { OpenFlows } from './open-flows.ts';
import type { PinLookup } from './pin-table.ts';
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
}

interface WireAlsMessage {
  http_logs?: { log_entry?: WireHttpLogEntry[] };
}

/** DataplaneServer serves ext_proc and the access log service. */
export class DataplaneServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<ProcessStream>();
  private readonly open = new OpenFlows();
  private readonly ctx: StreamContext;
  private readonly accessLog: AccessLogReceiver;
  private readonly totals = { streams: 0, flows: 0 };
  private statsTimer: NodeJS.Timeout | null = null;
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
    const max = o.maxMessageBytes ?? 4 * 1024 * 1024;
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
    // Requests are decoded reading only what presencelb uses (wire-decoding.ts): Envoy sends much more.
    this.server.addService(decodingWith(serviceDefinition('envoy.service.ext_proc.v3.ExternalProcessor'), 'Process', prunedDecoder('envoy.service.ext_proc.v3.ProcessingRequest', PROCESSING_REQUEST_KEEP)), {
      Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, object>) => this.process(call),
    });
    this.server.addService(decodingWith(serviceDefinition('envoy.service.accesslog.v3.AccessLogService'), 'StreamAccessLogs', prunedDecoder('envoy.service.accesslog.v3.StreamAccessLogsMessage', ACCESS_LOG_KEEP)), {
      StreamAccessLogs: (call: grpc.ServerReadableStream<WireAlsMessage, object>, cb: grpc.sendUnaryData<object>) => this.accessLogs(call, cb),
    });
  }

  /** start binds listen (host:port; port 0 picks one; plaintext unless credentials say TLS) and resolves with the bound port. */
  start(listen: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(listen, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  /** openStreams is the number of ext_proc streams Envoy holds open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** openFlows is the number of tracked flows that have started and not ended. */
  get openFlows(): number {
    return this.open.size;
  }

  /**
   * stop stops accepting streams, waits up to graceMs for open ones, then ends the rest. Flows still open are left
   * open in the store: the lifecycle closes them (reason shutdown) as it stops.
   */
  async stop(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      t.unref();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
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

  private process(call: grpc.ServerDuplexStream<WireProcessingRequest, object>): void {
    const stream = new ProcessStream(this.ctx, {
      write: (m) => {
        if (!call.writableEnded && !call.destroyed) call.write(m);
      },
      end: () => {
        if (!call.writableEnded && !call.destroyed) call.end();
      },
    });
    this.streams.add(stream);
    this.totals.streams++;
    this.changed();
    const finish = () => {
      if (this.streams.delete(stream)) {
        stream.onEnd();
        this.changed();
      }
    };
    call.on('data', (req: WireProcessingRequest) => {
      try {
        stream.onMessage(req);
      } catch (e) {
        this.o.log.error({ err: String(e) }, 'ext_proc: message handling failed');
      }
    });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('error', finish);
    call.on('cancelled', finish);
    call.on('close', finish);
  }

  private accessLogs(call: grpc.ServerReadableStream<WireAlsMessage, object>, cb: grpc.sendUnaryData<object>): void {
    call.on('data', (m: WireAlsMessage) => {
      for (const e of m.http_logs?.log_entry ?? []) {
        try {
          this.accessLog.onEntry(e);
        } catch (err) {
          this.o.log.error({ err: String(err) }, 'access log: entry handling failed');
        }
      }
    });
    call.on('end', () => cb(null, {}));
    call.on('error', () => undefined);
  }
}

/** decodingWith returns def with method's requests decoded by decode instead of proto-loader's deserializer. */
function decodingWith(def: grpc.ServiceDefinition, method: string, decode: (buf: Buffer) => unknown): grpc.ServiceDefinition {
  const m = def[method];
  if (!m) throw new Error(`service has no method ${method}`);
  return { ...def, [method]: { ...m, requestDeserialize: decode } };
}
