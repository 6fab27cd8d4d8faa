/**
 * Types shared by the ADS server's parts: the wire messages as grpc-js hands them over (proto-loader options of
 * src/protos/envoy.ts), the per-Envoy status envoys() reports, the outcome of waitForAck, and the injected hooks.
 */
import type { Clock, Logger } from '../core/ports.ts';
import type { XdsKind } from './resource-types/index.ts';

/** NodeIdentity is an Envoy as it names itself in DiscoveryRequest.node; id and cluster together key its view. */
export interface NodeIdentity {
  readonly id: string;
  readonly cluster: string;
}

/** DiscoveryRequest is envoy.service.discovery.v3.DiscoveryRequest as decoded (absent fields stay undefined). */
export interface DiscoveryRequest {
  readonly version_info?: string;
  readonly node?: { readonly id?: string; readonly cluster?: string };
  readonly resource_names?: readonly string[];
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string };
}

/** DiscoveryResponse is envoy.service.discovery.v3.DiscoveryResponse as presencelb sends it. */
export interface DiscoveryResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly { readonly type_url: string; readonly value: Uint8Array }[];
  readonly control_plane: { readonly identifier: string };
}

/** NackRecord is one rejection: the version Envoy refused, its error_detail message, and when it arrived. */
export interface NackRecord {
  readonly version: string;
  readonly message: string;
  readonly code: number | null;
  readonly at: number;
}

/** TypeStatus is what one Envoy has been sent and has accepted of one resource type. */
export interface TypeStatus {
  readonly kind: XdsKind;
  /** subscribed is '*' for a wildcard subscription, else the names asked for. */
  readonly subscribed: '*' | readonly string[];
  readonly sentVersion: string | null;
  readonly sentAt: number | null;
  /** ackedVersion is the version Envoy last reported as applied (version_info of its latest request). */
  readonly ackedVersion: string | null;
  readonly ackedAt: number | null;
  readonly lastNack: NackRecord | null;
}

/** EnvoyStatus is presencelb's view of one Envoy (node), kept after it disconnects. */
export interface EnvoyStatus {
  readonly nodeId: string;
  readonly cluster: string;
  readonly connected: boolean;
  readonly streams: number;
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  /** appliedVersion is the latest published snapshot version this Envoy has acknowledged in every type it asked for. */
  readonly appliedVersion: string | null;
  readonly types: readonly TypeStatus[];
}

/** AckOutcome is how waitForAck ended: every targeted Envoy applied the version (or a later one), one refused it, or time ran out. */
export type AckOutcome =
  | { readonly status: 'acked'; readonly version: string; readonly nodes: readonly NodeIdentity[] }
  | { readonly status: 'nacked'; readonly version: string; readonly node: NodeIdentity; readonly kind: XdsKind; readonly nack: NackRecord }
  | { readonly status: 'timeout'; readonly version: string; readonly pending: readonly NodeIdentity[] }
  | { readonly status: 'unknown_version'; readonly version: string };

/** WaitForAckOptions selects the Envoy to wait for (default: every connected one, at least one) and bounds the wait. */
export interface WaitForAckOptions {
  readonly nodeId?: string;
  readonly timeoutMs: number;
}

/** AdsEvent is what the hooks are told; node is null while a stream has not named its node yet. */
export type AdsEvent =
  | { readonly type: 'connect' | 'disconnect'; readonly node: NodeIdentity | null; readonly streamId: number }
  | { readonly type: 'ack'; readonly node: NodeIdentity | null; readonly kind: XdsKind; readonly version: string }
  | { readonly type: 'nack'; readonly node: NodeIdentity | null; readonly kind: XdsKind; readonly nack: NackRecord }
  | { readonly type: 'send'; readonly node: NodeIdentity | null; readonly kind: XdsKind; readonly version: string; readonly resources: number };

/** AdsServerOptions are the ADS server's collaborators; nothing is read from globals. */
export interface AdsServerOptions {
  readonly logger: Logger;
  /** clock stamps acks, nacks and sends (default: the system clock). */
  readonly clock?: Pick<Clock, 'now'>;
  /** onEvent is called synchronously for every connect, disconnect, send, ack and nack. */
  readonly onEvent?: (e: AdsEvent) => void;
  /** controlPlaneId is sent as DiscoveryResponse.control_plane.identifier (default 'presencelb'). */
  readonly controlPlaneId?: string;
  /** historySize is how many published versions waitForAck can still be asked about (default 256). */
  readonly historySize?: number;
}
