/**
 * The end of every flow, from Envoy's gRPC access log service (envoy.service.accesslog.v3.AccessLogService,
 * StreamAccessLogs): Envoy sends one HTTPAccessLogEntry when an HTTP stream completes, long-lived streams
 * included, in batches (buffer_flush_interval in the bootstrap). Each entry closes the open flow of its request
 * id (request.request_id) for the user it names, read from the same source as ext_proc reads it (the verified JWT
 * payload in the entry's dynamic metadata, or the identity header); entries for requests presencelb did not track
 * (rejected, untracked, or already ended) change nothing.
 *
 * The entry also names the upstream that served the stream (its address, else its cluster). When that is another
 * configured application server than the one the flow started with (the route's cluster at request headers), the
 * flow's server is corrected first; an address that is no configured server is logged (UNKNOWN_APP_SERVER).
 */
import type { Logger } from '../core/ports.ts';
import type { FlowEndReason } from '../core/ports.ts';
import { parseUserId } from '../core/user-id.ts';
import type { FlowSink } from './flow-sink.ts';
import { mapGet, type WireMap, type WireMetadata } from './headers.ts';
import { identityFromJwtMetadata, type IdentitySettings } from './identity.ts';
import type { OpenFlows } from './open-flows.ts';

interface WireTime {
  seconds?: string | number;
  nanos?: number;
}

/** WireHttpLogEntry is the part of envoy.data.accesslog.v3.HTTPAccessLogEntry presencelb reads. */
export interface WireHttpLogEntry {
  common_properties?: {
    start_time?: WireTime;
    duration?: WireTime;
    time_to_last_downstream_tx_byte?: WireTime;
    response_flags?: Record<string, boolean | undefined>;
    intermediate_log_entry?: boolean;
    /** metadata is the stream's dynamic metadata (Envoy logs every namespace). */
    metadata?: WireMetadata;
    upstream_remote_address?: { socket_address?: { address?: string; port_value?: number } };
    upstream_cluster?: string;
  };
  request?: { request_id?: string; request_headers?: WireMap<string> };
}

/** Response flags that mean the stream did not complete normally. */
const BROKEN_FLAGS = [
  'downstream_connection_termination',
  'downstream_remote_reset',
  'upstream_remote_reset',
  'upstream_connection_termination',
  'upstream_connection_failure',
  'stream_idle_timeout',
  'upstream_request_timeout',
  'duration_timeout',
  'upstream_max_stream_duration_reached',
];

/** AccessLogReceiver turns access log entries into flow ends. */
export class AccessLogReceiver {
  constructor(
    private readonly o: {
      identity: IdentitySettings;
      open: OpenFlows;
      flows: FlowSink;
      now: () => number;
      log: Logger;
      /** serverByCluster / serverByAddress map Envoy's names for an upstream to a configured app server name. */
      serverByCluster: ReadonlyMap<string, string>;
      serverByAddress: ReadonlyMap<string, string>;
    },
  ) {}

  /** onEntry closes the flow an entry reports on, if presencelb is tracking it. Returns whether it did. */
  onEntry(e: WireHttpLogEntry): boolean {
    const cp = e.common_properties ?? {};
    if (cp.intermediate_log_entry) return false;
    const requestId = e.request?.request_id;
    if (!requestId) return false;
    const id = this.o.identity;
    const user =
      id.source === 'jwt'
        ? identityFromJwtMetadata(cp.metadata, id.jwtMetadataNamespace, id.jwtPayloadKey)
        : parseUserId(mapGet(e.request?.request_headers, id.header));
    if (!user.ok) return false;
    const flow = this.o.open.take(requestId, user.value);
    if (!flow) return false;
    const start = ms(cp.start_time);
    const dur = ms(cp.duration) ?? ms(cp.time_to_last_downstream_tx_byte);
    const endedAt = start !== null && dur !== null ? Math.max(start + dur, flow.startedAt) : this.o.now();
    const broken = BROKEN_FLAGS.some((f) => cp.response_flags?.[f] === true);
    const reason: FlowEndReason = broken ? 'stream_error' : 'completed';
    const server = this.upstreamOf(cp);
    if (server && server !== flow.appServer) this.o.flows.flowUpstream(flow.flowId, flow.user, server);
    this.o.flows.flowEnded(flow.flowId, flow.user, endedAt, reason);
    return true;
  }

  /** upstreamOf is the configured app server that served an entry's stream, or null (none, or not one of ours). */
  private upstreamOf(cp: NonNullable<WireHttpLogEntry['common_properties']>): string | null {
    const sa = cp.upstream_remote_address?.socket_address;
    if (sa?.address) {
      const address = `${sa.address}:${sa.port_value ?? 0}`;
      const byAddress = this.o.serverByAddress.get(address);
      if (byAddress) return byAddress;
      this.o.log.warn({ code: 'UNKNOWN_APP_SERVER', address }, 'upstream is not a configured application server');
    }
    return (cp.upstream_cluster && this.o.serverByCluster.get(cp.upstream_cluster)) || null;
  }
}

function ms(t: WireTime | undefined): number | null {
  if (!t || (t.seconds === undefined && t.nanos === undefined)) return null;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
