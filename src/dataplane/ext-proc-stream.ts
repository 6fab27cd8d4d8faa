/**
 * One ext_proc stream = one HTTP stream through Envoy (envoy.service.ext_proc.v3.ExternalProcessor/Process).
 *
 *   awaiting_headers ──valid identity──▶ granting ──grant──▶ forwarded ──stream end──▶ closed
 *          │                                                       │
 *          └──no/bad identity──▶ rejected (400) ─────────────────────┴──stream error──▶ closed
 *
 * A flow starts at the request headers of a request with a valid identity and ends when Envoy ends the stream
 * (reason completed) or the stream breaks (reason stream_error). The application server comes from Envoy: the
 * `xds.cluster_name` attribute at request headers (the cluster the route chose), confirmed by `upstream.address`
 * at response headers. Every message Envoy sends is answered, so Envoy never waits for message_timeout.
 */
import { formatErrors } from '../core/result.ts';
import type { Clock, Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import type { FlowSink } from './flow-sink.ts';
import { stringAttribute, type WireHeader } from './headers.ts';
import { identityFromHeaders } from './identity.ts';

/** StreamState is where one ext_proc stream is in its life. */
export type StreamState = 'awaiting_headers' | 'granting' | 'forwarded' | 'rejected' | 'closed';

/** StreamContext is what every stream shares: settings and collaborators fixed at server start. */
export interface StreamContext {
  readonly identityHeader: string;
  readonly flows: FlowSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly newFlowId: () => string;
  /** serverByCluster / serverByAddress map Envoy's names for an upstream to a configured app server name. */
  readonly serverByCluster: ReadonlyMap<string, string>;
  readonly serverByAddress: ReadonlyMap<string, string>;
}

/** Writer is the part of the gRPC duplex stream a ProcessStream writes to. */
export interface Writer {
  write(msg: object): void;
}

interface WireRequest {
  request_headers?: { headers?: { headers?: WireHeader[] } };
  response_headers?: { headers?: { headers?: WireHeader[] } };
  request_body?: unknown;
  response_body?: unknown;
  request_trailers?: unknown;
  response_trailers?: unknown;
  attributes?: Record<string, never>;
  observability_mode?: boolean;
}

/** ProcessStream handles the messages of one ext_proc stream. */
export class ProcessStream {
  state: StreamState = 'awaiting_headers';
  private flow: { id: string; user: UserId; appServer: string | null } | null = null;

  constructor(private readonly ctx: StreamContext, private readonly out: Writer) {}

  /** onMessage handles one ProcessingRequest. */
  onMessage(req: WireRequest): void {
    const observe = req.observability_mode === true;
    if (req.request_headers) return this.onRequestHeaders(req, observe);
    if (req.response_headers) {
      this.onResponseHeaders(req);
      if (!observe && this.state !== 'closed') this.out.write({ response_headers: { response: {} } });
      return;
    }
    if (observe) return;
    if (req.request_body) this.out.write({ request_body: { response: {} } });
    else if (req.response_body) this.out.write({ response_body: { response: {} } });
    else if (req.request_trailers) this.out.write({ request_trailers: {} });
    else if (req.response_trailers) this.out.write({ response_trailers: {} });
  }

  /** onEnd closes the flow: `completed` when Envoy ended the stream, `stream_error` when it broke. */
  onEnd(broken: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.flow) this.ctx.flows.flowEnded(this.flow.id, this.flow.user, this.ctx.clock.now(), broken ? 'stream_error' : 'completed');
  }

  /** tracking says whether this stream currently holds an open flow. */
  get tracking(): boolean {
    return this.flow !== null && this.state !== 'closed';
  }

  private onRequestHeaders(req: WireRequest, observe: boolean): void {
    if (this.state !== 'awaiting_headers') {
      this.ctx.log.warn({ state: this.state }, 'ext_proc: request headers twice on one stream: ignored');
      return;
    }
    const id = identityFromHeaders(req.request_headers?.headers?.headers, this.ctx.identityHeader);
    if (!id.ok) {
      this.state = 'rejected';
      const e = id.errors[0]!;
      this.ctx.log.info({ code: e.code }, `request rejected: ${formatErrors(id.errors)}`);
      if (!observe) {
        const body = JSON.stringify({ error: e.code, message: e.message });
        this.out.write({
          immediate_response: {
            status: { code: 'BadRequest' },
            headers: { set_headers: [{ header: { key: 'content-type', raw_value: Buffer.from('application/json') } }] },
            body: Buffer.from(body),
            details: `presencelb_${e.code.toLowerCase()}`,
          },
        });
      }
      return;
    }
    const cluster = stringAttribute(req.attributes, 'xds.cluster_name');
    const appServer = cluster ? (this.ctx.serverByCluster.get(cluster) ?? null) : null;
    this.flow = { id: this.ctx.newFlowId(), user: id.value, appServer };
    this.state = 'granting';
    this.ctx.flows.flowStarted({ ...this.flow, startedAt: this.ctx.clock.now() }, () => {
      if (this.state !== 'granting') return;
      this.state = 'forwarded';
      if (!observe) this.out.write({ request_headers: { response: { status: 'CONTINUE' } } });
    });
  }

  private onResponseHeaders(req: WireRequest): void {
    if (!this.flow) return;
    const address = stringAttribute(req.attributes, 'upstream.address');
    const cluster = stringAttribute(req.attributes, 'xds.cluster_name');
    const server = (address && this.ctx.serverByAddress.get(address)) || (cluster && this.ctx.serverByCluster.get(cluster)) || null;
    if (address && !server) this.ctx.log.warn({ code: 'UNKNOWN_APP_SERVER', address }, 'upstream is not a configured application server');
    if (server && server !== this.flow.appServer) {
      this.flow.appServer = server;
      this.ctx.flows.flowUpstream(this.flow.id, this.flow.user, server);
    }
  }
}
