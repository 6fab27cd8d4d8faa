/**
 * One ext_proc stream (envoy.service.ext_proc.v3.ExternalProcessor/Process) = the start of one HTTP stream.
 *
 *   awaiting_headers ──valid identity──▶ granting ──grant: answer, end the stream──▶ handed_over
 *          │                                 │
 *          └──no/bad identity──▶ rejected    └──stream ended first──▶ detached
 *
 * A flow starts at the request headers of a request with a valid identity (identity.ts: the verified JWT's subject
 * from the forwarded dynamic metadata, or the trusted header, per config). The application server is the route's
 * cluster, from the `xds.cluster_name` attribute (or the pinned server, for a pinned user steered by the pin
 * header).
 *
 * The request headers are all presencelb needs from ext_proc, so once it has answered them (or, in observability
 * mode, recorded the flow) it ends the stream with OK: Envoy then processes the rest of the request without it
 * and sends nothing more (the bootstraps skip response headers as well). One message each way per request; the
 * bootstraps have Envoy half-close the stream rather than reset it (ARCHITECTURE.md, "One connection to
 * presencelb"). A rejected request's stream ends after its immediate response.
 *
 * The flow's end, and the upstream that really served it, come from the access log (access-log.ts): Envoy writes
 * an entry for every HTTP stream when it completes or is reset, long-lived streams included. The ext_proc stream
 * is no witness of that end, so its end never ends a flow: it closes long before a long-lived HTTP stream
 * completes, and when presencelb answers later than message_timeout Envoy closes it and the request goes on
 * (failure_mode_allow). The request headers of a user's first flow are answered once the claim's first steps are
 * done (the lifecycle bounds that by presence.stepTimeoutMs).
 */
import { randomUUID } from 'node:crypto';
import { newFlowId } from './flow-id.ts';
import { formatErrors } from '../core/result.ts';
import type { Clock, Logger } from '../core/ports.ts';
import type { FlowSink } from './flow-sink.ts';
import { headerValues, stringAttribute, type WireHeader, type WireMap, type WireMetadata, type WireStruct } from './headers.ts';
import { identityOf, type IdentitySettings } from './identity.ts';
import type { OpenFlows } from './open-flows.ts';
import type { PinLookup } from './pin-table.ts';

/** StreamState is where one ext_proc stream is in its life. */
export type StreamState = 'awaiting_headers' | 'granting' | 'handed_over' | 'rejected' | 'detached';

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
  /** serverByCluster maps Envoy's cluster names to configured app server names. */
  readonly serverByCluster: ReadonlyMap<string, string>;
}

/** Writer is the part of the gRPC duplex stream a ProcessStream writes to. */
export interface Writer {
  write(msg: object): void;
  /** end closes the stream with OK: presencelb has nothing more to say, and wants nothing more from Envoy. */
  end(): void;
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

  constructor(private readonly ctx: StreamContext, private readonly out: Writer) {}

  /**
   * onMessage handles one ProcessingRequest. Envoy sends only request headers when the stream is ended after them
   * (as presencelb does); anything else it may send under another processing_mode is answered unchanged.
   */
  onMessage(req: WireProcessingRequest): void {
    const observe = req.observability_mode === true;
    if (req.request_headers) return this.onRequestHeaders(req, observe);
    if (observe) return;
    if (req.response_headers) this.out.write({ response_headers: { response: {} } });
    else if (req.request_body) this.out.write({ request_body: { response: {} } });
    else if (req.response_body) this.out.write({ response_body: { response: {} } });
    else if (req.request_trailers) this.out.write({ request_trailers: {} });
    else if (req.response_trailers) this.out.write({ response_trailers: {} });
  }

  /**
   * onEnd: the stream is over. A flow still waiting for its grant stays open: the HTTP stream may well go on (see
   * the module comment), and the access log ends the flow either way.
   */
  onEnd(): void {
    if (this.state === 'granting') this.state = 'detached';
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
      this.out.end();
      return;
    }
    const cluster = stringAttribute(req.attributes, 'xds.cluster_name');
    const requestIds = headerValues(headers, 'x-request-id');
    const requestId = requestIds.length === 1 && requestIds[0]!.length <= 128 ? requestIds[0]! : `local:${randomUUID()}`;
    // A pinned user's request goes to the pinned server (the steering route), not the cluster Envoy chose first.
    const pinned = observe || !this.ctx.pinHeader ? undefined : this.ctx.pins?.serverFor(id.value);
    const start = { id: newFlowId(), user: id.value, appServer: pinned ?? (cluster ? (this.ctx.serverByCluster.get(cluster) ?? null) : null), startedAt: this.ctx.clock.now() };
    const entry = { flowId: start.id, user: start.user, appServer: start.appServer, startedAt: start.startedAt };
    if (!this.ctx.open.open(requestId, entry)) {
      this.ctx.log.warn({ user: start.user }, 'ext_proc: request id already open; this flow will end at restart or shutdown');
      this.ctx.open.open(`local:${randomUUID()}`, entry);
    }
    this.state = 'granting';
    this.ctx.flows.flowStarted(start, () => {
      if (this.state !== 'granting') return;
      this.state = 'handed_over';
      if (!observe) this.out.write({ request_headers: { response: pinned ? steer(this.ctx.pinHeader!, pinned) : { status: 'CONTINUE' } } });
      this.out.end();
    });
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
