/**
 * The admin API's messages as grpc-js hands them over (ADMIN_LOADER_OPTIONS: snake_case, enums by name, int64 as
 * strings on receipt) and the mapping from presencelb's records to them. Pure: no I/O, no grpc-js.
 */
import type { LifecycleEvent } from '../core/lifecycle-events.ts';
import type { Branch, DecisionRecord, FlowRecord, PinRecord, UserRecord, UserState } from '../core/ports.ts';
import type { SessionState } from '../core/session.ts';
import type { EnvoyStatus } from '../xds/ads-types.ts';
import { typeUrlOfKind } from '../xds/resource-types/index.ts';

/** Timestamp is google.protobuf.Timestamp. */
export interface Timestamp {
  readonly seconds: string;
  readonly nanos: number;
}

/** WireUserState is the proto enum UserState by name. */
export type WireUserState = `USER_STATE_${Uppercase<UserState>}` | 'USER_STATE_UNSPECIFIED';

/** WireUser is presencelb.admin.v1.User. */
export interface WireUser {
  readonly uuid: string;
  readonly state: WireUserState;
  readonly app_server: string;
  readonly created_at: Timestamp;
  readonly updated_at: Timestamp;
}

/** WireFlow is presencelb.admin.v1.Flow; ended_at is null while the flow is open. */
export interface WireFlow {
  readonly id: string;
  readonly uuid: string;
  readonly app_server: string;
  readonly started_at: Timestamp;
  readonly ended_at: Timestamp | null;
  readonly end_reason: string;
  /** streams: how many HTTP streams the flow stands for (more than 1 for a span). */
  readonly streams: number;
}

/** WireDecision is presencelb.admin.v1.Decision. */
export interface WireDecision {
  readonly branch: 'BRANCH_RECONNECT' | 'BRANCH_TEARDOWN';
  readonly notify_sent_at: Timestamp;
  readonly decided_at: Timestamp;
  readonly app_server: string;
  readonly reason: string;
}

/** WireRouteUpdate is presencelb.admin.v1.RouteUpdate. */
export interface WireRouteUpdate {
  readonly uuid: string;
  readonly app_server: string;
  readonly created_at: Timestamp;
  readonly expires_at: Timestamp;
}

/** WireEnvoy is presencelb.admin.v1.Envoy with its TypeStatus list. */
export interface WireEnvoy {
  readonly node_id: string;
  readonly cluster: string;
  readonly connected: boolean;
  readonly applied_version: string;
  readonly types: ReadonlyArray<{ type_url: string; sent_version: string; acked_version: string; nacked_version: string; nack_detail: string }>;
}

/** WireEvent is presencelb.admin.v1.WatchEventsResponse. */
export interface WireEvent {
  readonly step: string;
  readonly uuid: string;
  readonly at: Timestamp;
  readonly ok: boolean;
  readonly code: string;
  readonly detail_json: string;
}

/** toTimestamp turns epoch milliseconds into a Timestamp. */
export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** stateToWire names a lifecycle state in the proto enum ('gone' has no value: UNSPECIFIED). */
export function stateToWire(s: SessionState): WireUserState {
  return s === 'gone' ? 'USER_STATE_UNSPECIFIED' : (`USER_STATE_${s.toUpperCase()}` as WireUserState);
}

/** userToWire maps a stored user; liveState, when given, replaces the stored state. */
export function userToWire(u: UserRecord, liveState?: SessionState): WireUser {
  return { uuid: u.user, state: stateToWire(liveState ?? u.state), app_server: u.appServer ?? '', created_at: toTimestamp(u.createdAt), updated_at: toTimestamp(u.updatedAt) };
}

/** flowToWire maps a stored flow. */
export function flowToWire(f: FlowRecord): WireFlow {
  return {
    id: f.id,
    uuid: f.user,
    app_server: f.appServer ?? '',
    started_at: toTimestamp(f.startedAt),
    ended_at: f.endedAt === null ? null : toTimestamp(f.endedAt),
    end_reason: f.endReason ?? '',
    streams: f.streams ?? 1,
  };
}

const BRANCHES: Readonly<Record<Branch, WireDecision['branch']>> = { reconnect: 'BRANCH_RECONNECT', teardown: 'BRANCH_TEARDOWN' };

/** decisionToWire maps a stored decision. */
export function decisionToWire(d: DecisionRecord): WireDecision {
  return { branch: BRANCHES[d.branch], notify_sent_at: toTimestamp(d.notifySentAt), decided_at: toTimestamp(d.decidedAt), app_server: d.appServer ?? '', reason: d.reason };
}

/** pinToWire maps a route update (pin). */
export function pinToWire(p: PinRecord): WireRouteUpdate {
  return { uuid: p.user, app_server: p.appServer, created_at: toTimestamp(p.createdAt), expires_at: toTimestamp(p.expiresAt) };
}

/** envoyToWire maps one Envoy's status; a type's nacked_version and nack_detail are its last NACK, if any. */
export function envoyToWire(e: EnvoyStatus): WireEnvoy {
  return {
    node_id: e.nodeId,
    cluster: e.cluster,
    connected: e.connected,
    applied_version: e.appliedVersion ?? '',
    types: e.types.map((t) => ({
      type_url: typeUrlOfKind(t.kind),
      sent_version: t.sentVersion ?? '',
      acked_version: t.ackedVersion ?? '',
      nacked_version: t.lastNack?.version ?? '',
      nack_detail: t.lastNack?.message ?? '',
    })),
  };
}

/** eventToWire maps a lifecycle event; its detail becomes JSON text. */
export function eventToWire(e: LifecycleEvent): WireEvent {
  return { step: e.step, uuid: e.user, at: toTimestamp(e.at), ok: e.ok, code: e.code ?? '', detail_json: e.detail ? JSON.stringify(e.detail) : '' };
}
