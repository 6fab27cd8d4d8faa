/**
 * The ext_proc gRPC server Envoy's ext_proc HTTP filter calls for every request (grpc-js adapter). It owns the
 * listening socket and the set of open streams; each stream's protocol is in ext-proc-stream.ts.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AppServer, Clock, Logger } from '../core/ports.ts';
import { envoyProtos } from '../protos/envoy.ts';
import type { FlowSink } from './flow-sink.ts';
import { ProcessStream, type StreamContext } from './ext-proc-stream.ts';

/** ExtProcOptions configure the server; fixed at construction. */
export interface ExtProcOptions {
  readonly identityHeader: string;
  readonly appServers: readonly AppServer[];
  readonly flows: FlowSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** maxMessageBytes bounds one ProcessingRequest (headers only are sent: 1 MiB is generous). */
  readonly maxMessageBytes?: number;
}

/** ExtProcServer serves envoy.service.ext_proc.v3.ExternalProcessor. */
export class ExtProcServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<ProcessStream>();
  private readonly ctx: StreamContext;

  constructor(private readonly o: ExtProcOptions) {
    const byAddress = new Map<string, string>();
    for (const s of o.appServers) byAddress.set(`${s.host}:${s.port}`, s.name);
    this.ctx = {
      identityHeader: o.identityHeader,
      flows: o.flows,
      clock: o.clock,
      log: o.log,
      newFlowId: randomUUID,
      serverByCluster: new Map(o.appServers.map((s) => [s.name, s.name])),
      serverByAddress: byAddress,
    };
    const max = o.maxMessageBytes ?? 1024 * 1024;
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
    const svc = (envoyProtos().grpc as any).envoy.service.ext_proc.v3.ExternalProcessor.service as grpc.ServiceDefinition;
    this.server.addService(svc, { Process: (call: grpc.ServerDuplexStream<object, object>) => this.process(call) });
  }

  /** start binds listen (host:port; port 0 picks one) and resolves with the bound port. */
  start(listen: string): Promise<number> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  /** openStreams is the number of ext_proc streams Envoy holds open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** trackedFlows is the number of open streams that carry a tracked user's flow. */
  get trackedFlows(): number {
    let n = 0;
    for (const s of this.streams) if (s.tracking) n++;
    return n;
  }

  /** stop stops accepting streams, waits up to graceMs for open ones, then ends the rest (their flows: shutdown). */
  async stop(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    for (const s of this.streams) s.onEnd(true);
    this.streams.clear();
  }

  private process(call: grpc.ServerDuplexStream<object, object>): void {
    const stream = new ProcessStream(this.ctx, { write: (m) => { if (!call.writableEnded && !call.destroyed) call.write(m); } });
    this.streams.add(stream);
    const finish = (broken: boolean) => {
      if (!this.streams.delete(stream)) return;
      stream.onEnd(broken);
    };
    call.on('data', (req) => {
      try {
        stream.onMessage(req);
      } catch (e) {
        this.o.log.error({ err: String(e) }, 'ext_proc: message handling failed');
      }
    });
    call.on('end', () => {
      finish(false);
      call.end();
    });
    call.on('error', (e) => {
      this.o.log.debug({ err: e.message }, 'ext_proc stream broken');
      finish(true);
    });
    call.on('cancelled', () => finish(true));
    call.on('close', () => finish(true));
  }
}
