/**
 * One ext_proc stream (envoy.service.ext_proc.v3.ExternalProcessor/Process) = the start of one HTTP stream.
 *
 *   awaiting_headers ──valid identity──▶ granting ──grant──▶ forwarded ──response headers──▶ handed_over
 *          │                                 │                   │
 *          └──no/bad identity──▶ rejected    └───────────────────┴──stream ended first──▶ detached
 *
 * A flow starts at the request headers of a request with a valid identity (identity.ts: the verified JWT's subject
 * from the forwarded dynamic metadata, or the trusted header, per config). Its end always comes from the access
 * log (access-log.ts): Envoy writes an entry for every HTTP stream when it completes or is reset, and a reset's
 * response flags (a client that went away, an upstream that failed) make the end reason stream_error. The ext_proc
 * stream is no witness of that end, so its end never ends a flow (seen with Envoy 1.40): Envoy resets it right
 * after the response-headers exchange, long before a long-lived HTTP stream completes; it closes it when presencelb
 * answers later than message_timeout, and the request goes on (failure_mode_allow); in observability mode it would
 * keep it up to deferred_close_timeout after the request, so presencelb ends it after the response headers
 * (dataplane-server.ts). The application server comes from Envoy: `xds.cluster_name`
 * at request headers (the route's chosen cluster), confirmed by `upstream.address` at response headers. Every
 * message Envoy sends is answered (unless in observability mode, where answers are ignored), the request headers
 * of a user's first flow once the claim's first steps are done (the lifecycle bounds that by
 * presence.stepTimeoutMs).
 */
import { randomUUID } from 'node:crypto';
import { formatErrors } from '../core/result.ts';
import type { Clock, Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import type { FlowSink } from './flow-sink.ts';
import { headerValues, stringAttribute, type WireHeader, type WireMap, type WireMetadata, type WireStruct } from './headers.ts';
import { identityOf, type IdentitySettings } from './identity.ts';
import type { OpenFlows } from './open-flows.ts';
import type { PinLookup } from './pin-table.ts';

/** StreamState is where one ext_proc stream is in its life. */
export type StreamState = 'awaiting_headers' | 'granting' | 'forwarded' | 'handed_over' | 'rejected' | 'detached';

/** StreamContext is what every stream shares: settings and collaborators fixed at server start. */
export interface StreamContext {
  readonly identity: IdentitySettings;
  readonly flows: FlowSink;
  readonly open: OpenFlows;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * pins, with pinHeader, steer pinned users (config xds.pins: header): the answer to a pinned user's request headers
   * sets pinHeader to the server's name and asks Envoy to choose the route again, so the steering route for that
   * server (src/xds/resource-types/route.ts) applies. Absent in xds.pins: routes mode, where routes do it alone.
   */
  readonly pins?: PinLookup;
  readonly pinHeader?: string;
  /** serverByCluster / serverByAddress map Envoy's names for an upstream to a configured app server name. */
  readonly serverByCluster: ReadonlyMap<string, string>;
  readonly serverByAddress: ReadonlyMap<string, string>;
}

/** Writer is the part of the gRPC duplex stream a ProcessStream writes to. */
export interface Writer {
  write(msg: object): void;
}

/** WireProcessingRequest is an envoy.service.ext_proc.v3.ProcessingRequest as decoded by proto-loader. */
export interface WireProcessingRequest {
  request_headers?: { headers?: { headers?: WireHeader[] } };
  response_headers?: { headers?: { headers?: WireHeader[] } };
  request_body?: unknown;
  response_body?: unknown;
  request_trailers?: unknown;
  response_trailers?: unknown;
  attributes?: WireMap<WireStruct>;
  /** metadata_context is the dynamic metadata of the namespaces the filter's metadata_options forward. */
  metadata_context?: WireMetadata;
  observability_mode?: boolean;
}

/** ProcessStream handles the messages of one ext_proc stream. */
export class ProcessStream {
  state: StreamState = 'awaiting_headers';
  private flow: { id: string; requestId: string; user: UserId; appServer: string | null } | null = null;

  constructor(private readonly ctx: StreamContext, private readonly out: Writer) {}

  /** onMessage handles one ProcessingRequest. */
  onMessage(req: WireProcessingRequest): void {
    const observe = req.observability_mode === true;
    if (req.request_headers) return this.onRequestHeaders(req, observe);
    if (req.response_headers) {
      this.onResponseHeaders(req);
      if (!observe) this.out.write({ response_headers: { response: {} } });
      return;
    }
    if (observe) return;
    if (req.request_body) this.out.write({ request_body: { response: {} } });
    else if (req.response_body) this.out.write({ response_body: { response: {} } });
    else if (req.request_trailers) this.out.write({ request_trailers: {} });
    else if (req.response_trailers) this.out.write({ response_trailers: {} });
  }

  /**
   * onEnd: the stream is over. A flow still waiting for its grant or its response stays open: the HTTP stream may
   * well go on (see the module comment), and the access log ends the flow either way.
   */
  onEnd(): void {
    if (this.state === 'granting' || this.state === 'forwarded') this.state = 'detached';
  }

  private onRequestHeaders(req: WireProcessingRequest, observe: boolean): void {
    if (this.state !== 'awaiting_headers') {
      this.ctx.log.warn({ state: this.state }, 'ext_proc: request headers twice on one stream: ignored');
      return;
    }
    const headers = req.request_headers?.headers?.headers;
    const id = identityOf(this.ctx.identity, { headers, metadata: req.metadata_context });
    if (!id.ok) {
      this.state = 'rejected';
      const e = id.errors[0]!;
      this.ctx.log.info({ code: e.code }, `request rejected: ${formatErrors(id.errors)}`);
      if (!observe) {
        // No headers: the bootstrap's mutation_rules (disallow_all) would refuse them, and Envoy labels the body of
        // any local reply text/plain itself.
        this.out.write({
          immediate_response: {
            status: { code: 'BadRequest' },
            body: Buffer.from(JSON.stringify({ error: e.code, message: e.message })),
            details: `presencelb_${e.code.toLowerCase()}`,
          },
        });
      }
      return;
    }
    const cluster = stringAttribute(req.attributes, 'xds.cluster_name');
    const requestIds = headerValues(headers, 'x-request-id');
    const requestId = requestIds.length === 1 && requestIds[0]!.length <= 128 ? requestIds[0]! : `local:${randomUUID()}`;
    // A pinned user's request goes to the pinned server (the steering route), not the cluster Envoy chose first.
    const pinned = observe || !this.ctx.pinHeader ? undefined : this.ctx.pins?.serverFor(id.value);
    const flow = { id: randomUUID(), requestId, user: id.value, appServer: pinned ?? (cluster ? (this.ctx.serverByCluster.get(cluster) ?? null) : null) };
    const startedAt = this.ctx.clock.now();
    if (!this.ctx.open.open(requestId, { flowId: flow.id, user: flow.user, startedAt })) {
      this.ctx.log.warn({ user: flow.user }, 'ext_proc: request id already open; this flow will end at restart or shutdown');
      flow.requestId = `local:${randomUUID()}`;
      this.ctx.open.open(flow.requestId, { flowId: flow.id, user: flow.user, startedAt });
    }
    this.flow = flow;
    this.state = 'granting';
    this.ctx.flows.flowStarted({ id: flow.id, user: flow.user, appServer: flow.appServer, startedAt }, () => {
      if (this.state !== 'granting') return;
      this.state = 'forwarded';
      if (observe) return;
      this.out.write({ request_headers: { response: pinned ? steer(this.ctx.pinHeader!, pinned) : { status: 'CONTINUE' } } });
    });
  }

  private onResponseHeaders(req: WireProcessingRequest): void {
    if (!this.flow || (this.state !== 'forwarded' && this.state !== 'granting')) return;
    this.state = 'handed_over';
    const address = stringAttribute(req.attributes, 'upstream.address');
    const cluster = stringAttribute(req.attributes, 'xds.cluster_name');
    const server = (address && this.ctx.serverByAddress.get(address)) || (cluster && this.ctx.serverByCluster.get(cluster)) || null;
    if (address && !this.ctx.serverByAddress.has(address)) this.ctx.log.warn({ code: 'UNKNOWN_APP_SERVER', address }, 'upstream is not a configured application server');
    if (server && server !== this.flow.appServer) {
      this.flow.appServer = server;
      this.ctx.flows.flowUpstream(this.flow.id, this.flow.user, server);
    }
  }
}

/**
 * steer is the CommonResponse for a pinned user's request headers: set the pin header (replacing any copy; the
 * bootstrap removes clients' copies before ext_proc anyway, and its mutation_rules let presencelb set this header
 * only) and clear the route cache, so the router picks the steering route.
 */
function steer(header: string, server: string): object {
  return {
    status: 'CONTINUE',
    header_mutation: { set_headers: [{ header: { key: header, raw_value: Buffer.from(server) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
    clear_route_cache: true,
  };
}
