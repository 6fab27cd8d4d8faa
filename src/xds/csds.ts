/**
 * CSDS, the Client Status Discovery Service (envoy.service.status.v3.ClientStatusDiscoveryService), served by the
 * management server: for every Envoy the ADS server has seen (connected or not), each resource it holds, is being
 * sent or asked for, as one ClientConfig.GenericXdsConfig:
 *
 * - version_info is the version Envoy holds as far as presencelb knows (its last ACK, or what it reported on
 *   reconnect), '' if none: the type's version over state of the world, the resource's own over delta.
 * - config_status (presencelb's view): STALE while a response carrying the resource awaits Envoy's answer; ERROR
 *   when Envoy refused the latest version sent (error_state then holds the refused version, error_detail's message
 *   and when; failed_configuration the refused resource when it is still the current one); SYNCED when Envoy holds
 *   the current snapshot's version; NOT_SENT otherwise (held before the first snapshot, a refused version not
 *   offered again, a removal not sent yet, such as a state-of-the-world version that keeps clusters the snapshot
 *   dropped until Envoy holds the new routes, state-of-the-world routes held until Envoy holds the clusters and
 *   endpoints they add, or a name that does not exist).
 * - client_status (what Envoy said): ACKED, NACKED, REQUESTED (asked for, holds nothing), DOES_NOT_EXIST (asked for
 *   by name, the snapshot has none).
 * - xds_config is the resource Envoy holds when presencelb still has that version (the current snapshot's), unless
 *   the request sets exclude_resource_contents; last_updated is when Envoy last ACKed it.
 *
 * Node matchers select Envoys by node id (exact, prefix, suffix, contains, safe_regex; OR across matchers; none:
 * every Envoy). presencelb does not keep node metadata, so a matcher on node_metadatas is refused (INVALID_ARGUMENT).
 */
import { status as GrpcStatus, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { formatErrors, type FieldError, type Result } from '../core/result.ts';
import type { EncodedResource, Snapshot } from './snapshot.ts';
import { resourceType } from './resource-types/index.ts';
import type { EnvoyStatus, NackRecord, ResourceStatus, TypeStatus } from './ads-types.ts';

/** CSDS_SERVICE is the full name of the gRPC service the CSDS handlers implement. */
export const CSDS_SERVICE = 'envoy.service.status.v3.ClientStatusDiscoveryService';

/** StringMatcher is envoy.type.matcher.v3.StringMatcher as decoded. */
export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
  readonly suffix?: string;
  readonly contains?: string;
  readonly safe_regex?: { readonly regex?: string };
  readonly custom?: unknown;
  readonly ignore_case?: boolean;
}

/** ClientStatusRequest is envoy.service.status.v3.ClientStatusRequest as decoded. */
export interface ClientStatusRequest {
  readonly node_matchers?: readonly { readonly node_id?: StringMatcher; readonly node_metadatas?: readonly unknown[] }[];
  readonly node?: unknown;
  readonly exclude_resource_contents?: boolean;
}

/** Timestamp is google.protobuf.Timestamp. */
export interface Timestamp {
  readonly seconds: number;
  readonly nanos: number;
}

/** AnyMessage is google.protobuf.Any as sent. */
export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/** GenericXdsConfig is envoy.service.status.v3.ClientConfig.GenericXdsConfig as presencelb fills it. */
export interface GenericXdsConfig {
  readonly type_url: string;
  readonly name: string;
  readonly version_info: string;
  readonly xds_config?: AnyMessage;
  readonly last_updated?: Timestamp;
  readonly config_status: 'SYNCED' | 'NOT_SENT' | 'STALE' | 'ERROR';
  readonly client_status: 'REQUESTED' | 'DOES_NOT_EXIST' | 'ACKED' | 'NACKED';
  readonly error_state?: { readonly failed_configuration?: AnyMessage; readonly last_update_attempt: Timestamp; readonly details: string; readonly version_info: string };
}

/** ClientConfig is envoy.service.status.v3.ClientConfig for one Envoy. */
export interface ClientConfig {
  readonly node: { readonly id: string; readonly cluster: string };
  readonly generic_xds_configs: readonly GenericXdsConfig[];
}

/** ClientStatusResponse is envoy.service.status.v3.ClientStatusResponse. */
export interface ClientStatusResponse {
  readonly config: readonly ClientConfig[];
}

/** CsdsSource is what CSDS reads: the ADS server's per-node view and its current snapshot. */
export interface CsdsSource {
  envoys(): EnvoyStatus[];
  current(): Snapshot | null;
}

const timestamp = (ms: number): Timestamp => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

/** matcherOf compiles one node-id matcher, or reports why it cannot be honoured. */
function matcherOf(m: { node_id?: StringMatcher; node_metadatas?: readonly unknown[] }, path: string): Result<(id: string) => boolean> {
  const errors: FieldError[] = [];
  if ((m.node_metadatas ?? []).length > 0) errors.push({ code: 'CONFIG_INVALID', path: `${path}.node_metadatas`, message: 'presencelb keeps no node metadata to match' });
  const s = m.node_id;
  if (s?.custom !== undefined) errors.push({ code: 'CONFIG_INVALID', path: `${path}.node_id.custom`, message: 'custom string matchers are not supported' });
  let test: (id: string) => boolean = () => true;
  if (s) {
    const fold = (x: string) => (s.ignore_case ? x.toLowerCase() : x);
    if (s.exact !== undefined) test = (id) => fold(id) === fold(s.exact!);
    else if (s.prefix !== undefined) test = (id) => fold(id).startsWith(fold(s.prefix!));
    else if (s.suffix !== undefined) test = (id) => fold(id).endsWith(fold(s.suffix!));
    else if (s.contains !== undefined) test = (id) => fold(id).includes(fold(s.contains!));
    else if (s.safe_regex !== undefined) {
      try {
        const re = new RegExp(`^(?:${s.safe_regex.regex ?? ''})$`);
        test = (id) => re.test(id);
      } catch (e) {
        errors.push({ code: 'CONFIG_INVALID', path: `${path}.node_id.safe_regex.regex`, message: (e as Error).message });
      }
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: test };
}

/** rejectedVersion is the version of the named resource that nack refused ('' for a refused removal). */
function rejectedVersion(nack: NackRecord, name: string): string {
  const r = nack.resources?.find((x) => x.name === name);
  if (r) return r.version;
  return nack.removed?.includes(name) ? '' : nack.version;
}

/** genericConfig describes one resource of one type Envoy holds, is being sent or asked for. */
function genericConfig(t: TypeStatus, r: ResourceStatus, snapshot: Snapshot | null, withContents: boolean): GenericXdsConfig {
  const typeUrl = resourceType(t.kind).typeUrl;
  const slice = snapshot?.slice(t.kind);
  const current: EncodedResource | undefined = slice?.resources.get(r.name);
  const currentVersion = current && (t.protocol === 'delta' ? current.version : slice!.version);
  const any = (e: EncodedResource): AnyMessage => ({ type_url: typeUrl, value: e.value });
  const holdsCurrent = current !== undefined && r.ackedVersion === currentVersion;
  let config_status: GenericXdsConfig['config_status'];
  if (r.pendingVersion !== null) config_status = 'STALE';
  else if (r.nack) config_status = 'ERROR';
  else config_status = holdsCurrent ? 'SYNCED' : 'NOT_SENT';
  const client_status: GenericXdsConfig['client_status'] = r.nack
    ? 'NACKED'
    : r.ackedVersion !== null
      ? 'ACKED'
      : current === undefined && snapshot !== null
        ? 'DOES_NOT_EXIST'
        : 'REQUESTED';
  const out: { -readonly [K in keyof GenericXdsConfig]: GenericXdsConfig[K] } = { type_url: typeUrl, name: r.name, version_info: r.ackedVersion ?? '', config_status, client_status };
  if (withContents && holdsCurrent) out.xds_config = any(current);
  if (r.ackedAt !== null) out.last_updated = timestamp(r.ackedAt);
  if (r.nack) {
    const refused = rejectedVersion(r.nack, r.name);
    out.error_state = {
      details: r.nack.message,
      version_info: refused,
      last_update_attempt: timestamp(r.nack.at),
      ...(withContents && current && currentVersion === refused ? { failed_configuration: any(current) } : {}),
    };
  }
  return out;
}

/** clientStatus answers one ClientStatusRequest from source, or says which matcher it cannot honour. */
export function clientStatus(req: ClientStatusRequest, source: CsdsSource): Result<ClientStatusResponse> {
  const tests: ((id: string) => boolean)[] = [];
  const errors: FieldError[] = [];
  (req.node_matchers ?? []).forEach((m, i) => {
    const r = matcherOf(m, `node_matchers[${i}]`);
    if (r.ok) tests.push(r.value);
    else errors.push(...r.errors);
  });
  if (errors.length > 0) return { ok: false, errors };
  const snapshot = source.current();
  const withContents = req.exclude_resource_contents !== true;
  const config = source
    .envoys()
    .filter((e) => tests.length === 0 || tests.some((test) => test(e.nodeId)))
    .map((e): ClientConfig => ({
      node: { id: e.nodeId, cluster: e.cluster },
      generic_xds_configs: e.types.flatMap((t) => t.resources.map((r) => genericConfig(t, r, snapshot, withContents))),
    }));
  return { ok: true, value: { config } };
}

/** csdsHandlers implements FetchClientStatus and StreamClientStatus (one response per request) over source. */
export function csdsHandlers(source: CsdsSource): UntypedServiceImplementation {
  const refuse = (errors: readonly FieldError[]) => ({ code: GrpcStatus.INVALID_ARGUMENT, details: formatErrors(errors) });
  return {
    FetchClientStatus(call: ServerUnaryCall<ClientStatusRequest, ClientStatusResponse>, callback: sendUnaryData<ClientStatusResponse>) {
      const r = clientStatus(call.request, source);
      if (r.ok) callback(null, r.value);
      else callback(refuse(r.errors));
    },
    StreamClientStatus(call: ServerDuplexStream<ClientStatusRequest, ClientStatusResponse>) {
      call.on('data', (req: ClientStatusRequest) => {
        const r = clientStatus(req, source);
        if (r.ok) call.write(r.value);
        else call.emit('error', refuse(r.errors));
      });
      call.on('end', () => call.end());
    },
  };
}
