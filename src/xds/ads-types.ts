/**
 * Types shared by the ADS server's parts: the wire messages as grpc-js hands them over (proto-loader options of
 * src/protos/envoy.ts), state of the world and incremental (delta), the per-Envoy status envoys() reports, the
 * outcome of waitForAck, and the injected hooks.
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

/** DeltaDiscoveryRequest is envoy.service.discovery.v3.DeltaDiscoveryRequest as decoded (absent fields stay undefined). */
export interface DeltaDiscoveryRequest {
  readonly node?: { readonly id?: string; readonly cluster?: string };
  readonly type_url?: string;
  readonly resource_names_subscribe?: readonly string[];
  readonly resource_names_unsubscribe?: readonly string[];
  /**
   * initial_resource_versions maps the names of the resources Envoy already holds to their versions (first request of
   * a type on a stream). grpc-js decodes this proto map from presencelb's descriptor image as a list of map entries;
   * a plain object is accepted too.
   */
  readonly initial_resource_versions?: Readonly<Record<string, string>> | readonly { readonly key?: string; readonly value?: string }[];
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string };
}

/** DeltaResource is envoy.service.discovery.v3.Resource as presencelb sends it. */
export interface DeltaResource {
  readonly name: string;
  readonly version: string;
  readonly resource: { readonly type_url: string; readonly value: Uint8Array };
}

/** DeltaDiscoveryResponse is envoy.service.discovery.v3.DeltaDiscoveryResponse as presencelb sends it. */
export interface DeltaDiscoveryResponse {
  /** system_version_info is the snapshot's version of the type (informational in delta xDS). */
  readonly system_version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly DeltaResource[];
  readonly removed_resources: readonly string[];
  readonly control_plane: { readonly identifier: string };
}

/** XdsProtocol names the two ADS variants: state of the world, and incremental (delta). */
export type XdsProtocol = 'sotw' | 'delta';

/** ResourceVersion names one version of one resource. */
export interface ResourceVersion {
  readonly name: string;
  readonly version: string;
}

/**
 * NackRecord is one rejection: the version Envoy refused (state of the world: the type's version; delta: the
 * system_version_info of the refused response), its error_detail message, and when it arrived. For delta, resources
 * and removed list what the refused response carried.
 */
export interface NackRecord {
  readonly version: string;
  readonly message: string;
  readonly code: number | null;
  readonly at: number;
  readonly resources?: readonly ResourceVersion[];
  readonly removed?: readonly string[];
}

/**
 * ResourceStatus is one resource of a type as one stream knows it. Versions are the type's version over state of the
 * world (where one version covers every resource of a response) and the resource's own version over delta.
 */
export interface ResourceStatus {
  readonly name: string;
  /** ackedVersion is the version Envoy holds as far as presencelb knows (ACKed, or reported on reconnect); null if none. */
  readonly ackedVersion: string | null;
  readonly ackedAt: number | null;
  /** pendingVersion is the version of a response carrying the resource that awaits ACK or NACK ('' for a removal). */
  readonly pendingVersion: string | null;
  /** nack is Envoy's latest refusal of this resource, until it accepts a later version of it. */
  readonly nack: NackRecord | null;
}

/** TypeStatus is what one Envoy has been sent and has accepted of one resource type. */
export interface TypeStatus {
  readonly kind: XdsKind;
  readonly protocol: XdsProtocol;
  /** subscribed is '*' for a wildcard subscription, else the names asked for. */
  readonly subscribed: '*' | readonly string[];
  readonly sentVersion: string | null;
  readonly sentAt: number | null;
  /**
   * ackedVersion is the type version Envoy last reported as applied: state of the world, the version_info of its
   * latest request (`<version>+stale-<digest>` while it holds clusters a snapshot dropped, see ads-stream.ts);
   * delta, the type version of the latest snapshot whose resources Envoy holds, every one ACKed.
   */
  readonly ackedVersion: string | null;
  readonly ackedAt: number | null;
  readonly lastNack: NackRecord | null;
  /** resources are the resources Envoy holds, is being sent or asked for by name, by name. */
  readonly resources: readonly ResourceStatus[];
}

/** XdsStreamView is what the per-node registry reads of a stream, whichever its protocol. */
export interface XdsStreamView {
  readonly id: number;
  readonly protocol: XdsProtocol;
  /** node is the Envoy's identity from the first request that carried one (null until then). */
  readonly node: NodeIdentity | null;
  /** isSubscribed is true when the stream currently wants at least one resource of kind. */
  isSubscribed(kind: XdsKind): boolean;
  /** ackedVersion is the type version of kind Envoy holds in full on this stream (see TypeStatus.ackedVersion). */
  ackedVersion(kind: XdsKind): string | null;
  /** status reports every type the stream has asked for, in push order. */
  status(): TypeStatus[];
}

/**
 * RejectedByNode tells whether the stream's node has NACKed this version of a type (state of the world), or this
 * version of the named resource (delta), before, on any stream.
 */
export type RejectedByNode = (kind: XdsKind, version: string, name?: string) => boolean;

/** EnvoyStatus is presencelb's view of one Envoy (node), kept after it disconnects. */
export interface EnvoyStatus {
  readonly nodeId: string;
  readonly cluster: string;
  readonly connected: boolean;
  readonly streams: number;
  /** protocol is the variant of the node's current (or last) stream. */
  readonly protocol: XdsProtocol | null;
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
  | { readonly type: 'connect' | 'disconnect'; readonly node: NodeIdentity | null; readonly streamId: number; readonly protocol: XdsProtocol }
  | { readonly type: 'ack'; readonly node: NodeIdentity | null; readonly kind: XdsKind; readonly version: string }
  | { readonly type: 'nack'; readonly node: NodeIdentity | null; readonly kind: XdsKind; readonly nack: NackRecord }
  | {
      readonly type: 'send';
      readonly node: NodeIdentity | null;
      readonly protocol: XdsProtocol;
      readonly kind: XdsKind;
      /** version is the response's version_info (delta: system_version_info). */
      readonly version: string;
      /** resources is the number of resources carried; removed the number of names in removed_resources (delta). */
      readonly resources: number;
      readonly removed: number;
      /** bytes is the size of the resources' encodings, summed. */
      readonly bytes: number;
    };

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
  /**
   * removalDrainMs is how long a removed cluster outlives Envoy's ACK of the routes that stopped using it (default
   * REMOVAL_DRAIN_MS). A request picks its route when its headers arrive and its cluster only when it reaches the
   * router, after ext_proc has answered; a request that picked a route before the update would find its cluster gone.
   */
  readonly removalDrainMs?: number;
}

/**
 * REMOVAL_DRAIN_MS outlasts the longest a request can wait between picking its route and reaching the router in the
 * shipped bootstraps: ext_proc's message_timeout (0.5 s), then failure_mode_allow lets it on.
 */
export const REMOVAL_DRAIN_MS = 1000;
