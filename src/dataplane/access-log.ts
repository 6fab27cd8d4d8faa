/**
 * Flows from Envoy's gRPC access log service (envoy.service.accesslog.v3.AccessLogService, StreamAccessLogs). Envoy
 * sends one HTTPAccessLogEntry when an HTTP stream completes, long-lived streams included, in batches
 * (buffer_flush_interval in the bootstrap); with HCM access_log_options.access_log_flush_interval it also sends a
 * periodic entry (intermediate, type DownstreamPeriodic) for a stream still open. The user is read from the same
 * source as ext_proc reads it (the verified JWT payload in the entry's dynamic metadata, or the identity header);
 * an entry without a valid identity changes nothing.
 *
 * - A final entry closes the open flow of its request id (request.request_id) for the user it names: the flow
 *   ext_proc opened at request headers, or a periodic entry before it.
 * - A final entry that closes no open flow is a flow presencelb did not see start: a request Envoy let through
 *   untracked (failure_mode_allow), or any request in access-log mode (envoy/envoy-access-log.yaml, no ext_proc).
 *   It is recorded whole: started at the entry's start time, ended at start plus duration.
 * - A periodic entry opens the flow of a stream presencelb has not seen start (access-log mode), with the entry's
 *   start time; the stream's final entry closes it. Later periodic entries of the flow are its heartbeat: if they
 *   stop (Envoy dropped the final entry: its logs_dropped stat) for longer than EXPIRE_MIN_MS, or three times the
 *   gap seen between them, expire() ends the flow at the last entry seen, reason stream_error. If the stream was
 *   in fact still open, its next periodic entry opens it again.
 *
 * The entry also names the upstream that served the stream (its address, else its cluster). When that is another
 * configured application server than the one the flow started with (the route's cluster at request headers), the
 * flow's server is corrected first; an address that is no configured server is logged (UNKNOWN_APP_SERVER).
 */
import type { Logger } from '../core/ports.ts';
import type { FlowEndReason } from '../core/ports.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { newFlowId } from './flow-id.ts';
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
    /** access_log_type: why the entry was written (envoy.data.accesslog.v3.AccessLogType; a name, or its number). */
    access_log_type?: string | number;
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

/**
 * FlowReport is what one access log entry says, whichever transport brought it: the gRPC access log service
 * (AccessLogReceiver.onEntry) or Envoy's file logger (flow-log.ts).
 */
export interface FlowReport {
  /** requestId is the stream's x-request-id: the key ext_proc opened its flow under. */
  readonly requestId: string;
  /** user is the verified identity the entry names. */
  readonly user: UserId;
  /** kind: 'final' (the stream ended), 'open' (written while it was still open) or 'other' (see kindOf). */
  readonly kind: 'final' | 'open' | 'other';
  /** startMs is when the stream started (ms since the epoch); durationMs how long it lasted (so far). */
  readonly startMs: number | null;
  readonly durationMs: number | null;
  /** broken: the stream did not complete normally (a reset, a termination, a timeout). */
  readonly broken: boolean;
  /** upstreamAddress (host:port) and upstreamCluster name the upstream that served the stream, if any. */
  readonly upstreamAddress: string | null;
  readonly upstreamCluster: string | null;
}

/** EXPIRE_MIN_MS: a flow opened by periodic entries is ended when none has come for this long (see expire). */
export const EXPIRE_MIN_MS = 10000;

/** Heartbeat is what the receiver knows of a flow a periodic entry opened. */
interface Heartbeat {
  readonly requestId: string;
  readonly user: UserId;
  lastSeen: number;
  gap: number;
}

/** AccessLogReceiver turns access log entries into flow starts and ends. */
export class AccessLogReceiver {
  /** heartbeats: the flows periodic entries opened and still open, by flow id. */
  private readonly heartbeats = new Map<string, Heartbeat>();

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

  /**
   * onEntry records what a gRPC access log entry reports: a flow's end, a whole flow, or the start of a flow still
   * open (see the module comment). Returns whether it changed anything.
   */
  onEntry(e: WireHttpLogEntry): boolean {
    const cp = e.common_properties ?? {};
    const requestId = e.request?.request_id;
    if (!requestId) return false;
    const id = this.o.identity;
    const user =
      id.source === 'jwt'
        ? identityFromJwtMetadata(cp.metadata, id.jwtMetadataNamespace, id.jwtPayloadKey)
        : parseUserId(mapGet(e.request?.request_headers, id.header));
    if (!user.ok) return false;
    const sa = cp.upstream_remote_address?.socket_address;
    return this.onReport({
      requestId,
      user: user.value,
      kind: kindOf(cp.access_log_type, cp.intermediate_log_entry === true),
      startMs: ms(cp.start_time),
      durationMs: ms(cp.duration) ?? ms(cp.time_to_last_downstream_tx_byte),
      broken: BROKEN_FLAGS.some((f) => cp.response_flags?.[f] === true),
      upstreamAddress: sa?.address ? `${sa.address}:${sa.port_value ?? 0}` : null,
      upstreamCluster: cp.upstream_cluster || null,
    });
  }

  /**
   * onReport records what one access log entry reports, whichever transport brought it (onEntry for the gRPC
   * access log service, flow-log.ts for Envoy's file logger). Returns whether it changed anything.
   */
  onReport(r: FlowReport): boolean {
    const { requestId, user, kind } = r;
    if (kind === 'other') return false;
    const start = r.startMs;
    const server = this.upstreamOf(r);
    if (kind === 'open') {
      // A stream still open: its flow is opened here unless ext_proc (or an earlier entry) already did. Only a
      // stream routed to a configured application server is a flow (see below).
      if (server === null) return false;
      const open = this.o.open.peek(requestId, user);
      if (open) {
        const hb = this.heartbeats.get(open.flowId);
        if (hb) {
          const now = this.o.now();
          hb.gap = now - hb.lastSeen;
          hb.lastSeen = now;
        }
        return false;
      }
      const flow = { flowId: newFlowId(), user, appServer: server, startedAt: start ?? this.o.now() };
      this.o.open.open(requestId, flow);
      this.heartbeats.set(flow.flowId, { requestId, user, lastSeen: this.o.now(), gap: 0 });
      this.o.flows.flowStarted({ id: flow.flowId, user: flow.user, appServer: flow.appServer, startedAt: flow.startedAt }, noop);
      return true;
    }
    const dur = r.durationMs;
    const reason: FlowEndReason = r.broken ? 'stream_error' : 'completed';
    const flow = this.o.open.take(requestId, user);
    if (!flow) {
      // A flow not seen to start: recorded whole, from the entry's start for its duration. Only if it went to a
      // configured application server: a request Envoy answered itself (a 400 for a request without a Host, a 401
      // of jwt_authn, an RBAC 403) is logged too, and before any HTTP filter ran, so with a header identity its
      // header is the client's own.
      if (server === null) return false;
      const startedAt = start ?? this.o.now();
      this.o.flows.flowRecorded({ id: newFlowId(), user, appServer: server, startedAt }, dur !== null ? startedAt + dur : this.o.now(), reason);
      return true;
    }
    this.heartbeats.delete(flow.flowId);
    const endedAt = start !== null && dur !== null ? Math.max(start + dur, flow.startedAt) : this.o.now();
    if (server && server !== flow.appServer) this.o.flows.flowUpstream(flow.flowId, flow.user, server);
    this.o.flows.flowEnded(flow.flowId, flow.user, endedAt, reason);
    return true;
  }

  /**
   * expire ends the flows periodic entries opened whose entries stopped coming: none for EXPIRE_MIN_MS, or for three
   * times the gap between the last two. Each ends at its last entry, reason stream_error. Returns how many it ended.
   */
  expire(): number {
    const now = this.o.now();
    let n = 0;
    for (const [flowId, hb] of this.heartbeats) {
      if (now - hb.lastSeen <= Math.max(EXPIRE_MIN_MS, 3 * hb.gap)) continue;
      this.heartbeats.delete(flowId);
      const flow = this.o.open.take(hb.requestId, hb.user);
      if (!flow || flow.flowId !== flowId) continue;
      this.o.flows.flowEnded(flowId, hb.user, hb.lastSeen, 'stream_error');
      n++;
    }
    if (n > 0) this.o.log.warn({ flows: n }, 'access log: streams whose periodic entries stopped were ended (their final entries never came)');
    return n;
  }

  /** upstreamOf is the configured app server that served a reported stream, or null (none, or not one of ours). */
  private upstreamOf(r: FlowReport): string | null {
    if (r.upstreamAddress) {
      const byAddress = this.o.serverByAddress.get(r.upstreamAddress);
      if (byAddress) return byAddress;
      this.o.log.warn({ code: 'UNKNOWN_APP_SERVER', address: r.upstreamAddress }, 'upstream is not a configured application server');
    }
    return (r.upstreamCluster && this.o.serverByCluster.get(r.upstreamCluster)) || null;
  }
}

/** noop is the grant of a flow reported by the access log: its request has already gone on. */
const noop = (): void => undefined;

/**
 * kindOf says what an entry reports: 'final' (the stream ended: DownstreamEnd), 'open' (written while the stream
 * was still open: DownstreamPeriodic, or DownstreamTunnelSuccessfullyEstablished) or 'other' (any other type; a
 * DownstreamStart entry is written before the HTTP filters ran, so before the identity was checked). An entry with
 * no type (older Envoys) is final unless flagged intermediate_log_entry. The type is decoded as its name, or as its
 * number when the name is unknown.
 */
export function kindOf(type: string | number | undefined, intermediate = false): FlowReport['kind'] {
  const t = type;
  if (t === undefined || t === 0 || t === 'NotSet') return intermediate ? 'open' : 'final';
  if (t === 'DownstreamEnd' || t === 6) return 'final';
  if (t === 'DownstreamPeriodic' || t === 5 || t === 'DownstreamTunnelSuccessfullyEstablished' || t === 10) return 'open';
  return 'other';
}

function ms(t: WireTime | undefined): number | null {
  if (!t || (t.seconds === undefined && t.nanos === undefined)) return null;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
