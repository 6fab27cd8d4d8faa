/**
 * Decoding what Envoy sends on the data path, reading only what presencelb uses. Envoy's messages carry much more
 * (an access log entry has addresses, TLS details, byte counts, timings, all headers…), and proto-loader's
 * deserializer decodes every field into objects on every request. Here each message is decoded with a pruned copy
 * of its type, derived from the descriptor image: the same names and field numbers, only the fields presencelb
 * reads; protobuf skips the others on the wire without building anything. The result has the shape proto-loader
 * gives (PROTO_LOADER_OPTIONS: snake_case, no defaults, oneof names; maps as {key, value} lists), except that 64-bit
 * integers are numbers (times in seconds), not strings.
 */
import protobuf from 'protobufjs';
import { envoyProtos, PROTO_LOADER_OPTIONS } from '../protos/envoy.ts';

/** Keep names the fields of a message to decode: true keeps a field whole, a nested Keep some of its fields. */
export interface Keep {
  readonly [field: string]: true | Keep;
}

/** PROCESSING_REQUEST_KEEP is what ext-proc-stream.ts reads of an envoy.service.ext_proc.v3.ProcessingRequest. */
export const PROCESSING_REQUEST_KEEP: Keep = {
  request_headers: { headers: true },
  // Of these only presence is read: which message Envoy sent.
  response_headers: {},
  request_body: {},
  response_body: {},
  request_trailers: {},
  response_trailers: {},
  attributes: true,
  metadata_context: { filter_metadata: true },
  observability_mode: true,
};

/** ACCESS_LOG_KEEP is what access-log.ts reads of an envoy.service.accesslog.v3.StreamAccessLogsMessage. */
export const ACCESS_LOG_KEEP: Keep = {
  http_logs: {
    log_entry: {
      common_properties: {
        start_time: true,
        duration: true,
        time_to_last_downstream_tx_byte: true,
        response_flags: true,
        intermediate_log_entry: true,
        access_log_type: true,
        metadata: { filter_metadata: true },
        upstream_remote_address: { socket_address: { address: true, port_value: true } },
        upstream_cluster: true,
      },
      request: { request_id: true, request_headers: true },
    },
  },
};

const TO_OBJECT: protobuf.IConversionOptions = { ...PROTO_LOADER_OPTIONS, longs: Number };

/** prunedDecoder returns a function decoding a message of type fullName, keeping only `keep` (see the module comment). */
export function prunedDecoder<T>(fullName: string, keep: Keep): (buf: Buffer) => T {
  const type = prunedType(envoyProtos().root, fullName, keep);
  return (buf) => type.toObject(type.decode(buf), TO_OBJECT) as T;
}

/**
 * prunedType builds, in a root of its own, a copy of type fullName of src with only the fields in keep. A type
 * reached along several paths keeps the union of what each path keeps (e.g. HttpHeaders: request headers whole,
 * response headers for presence only).
 */
export function prunedType(src: protobuf.Root, fullName: string, keep: Keep): protobuf.Type {
  const kept = new Map<string, { type: protobuf.Type | protobuf.Enum; keep: true | Keep }>();
  const collect = (t: protobuf.Type | protobuf.Enum, k: true | Keep): void => {
    const prev = kept.get(t.fullName);
    const merged = prev ? union(prev.keep, k) : k;
    if (prev && sameKeep(prev.keep, merged)) return;
    kept.set(t.fullName, { type: t, keep: merged });
    if (t instanceof protobuf.Enum) return;
    for (const f of t.fieldsArray) {
      const fk = merged === true ? true : merged[f.name];
      if (!fk) continue;
      const sub = f.resolve().resolvedType;
      if (sub) collect(sub, sub instanceof protobuf.Enum ? true : fk);
    }
  };
  collect(src.lookupType(fullName), keep);
  const json: Record<string, unknown> = {};
  for (const { type: t, keep: k } of kept.values()) {
    const node = nodeAt(json, t.fullName);
    if (t instanceof protobuf.Enum) {
      node.values = { ...t.values };
      continue;
    }
    const fields: Record<string, unknown> = {};
    for (const f of t.fieldsArray) {
      if (k !== true && !k[f.name]) continue;
      const sub = f.resolvedType;
      fields[f.name] = { id: f.id, type: sub ? sub.fullName : f.type, ...(f.repeated ? { rule: 'repeated' } : {}) };
    }
    const oneofs: Record<string, unknown> = {};
    for (const o of t.oneofsArray) {
      const names = o.oneof.filter((n) => n in fields);
      if (names.length > 0) oneofs[o.name] = { oneof: names };
    }
    node.fields = fields;
    if (Object.keys(oneofs).length > 0) node.oneofs = oneofs;
  }
  return protobuf.Root.fromJSON(json as protobuf.INamespace).lookupType(fullName);
}

function union(a: true | Keep, b: true | Keep): true | Keep {
  if (a === true || b === true) return true;
  const out: Record<string, true | Keep> = { ...a };
  for (const [name, k] of Object.entries(b)) out[name] = name in out ? union(out[name]!, k) : k;
  return out;
}

function sameKeep(a: true | Keep, b: true | Keep): boolean {
  if (a === true || b === true) return a === b;
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((n) => n in b && sameKeep(a[n]!, b[n]!));
}

/** nodeAt returns the JSON node of a full name (leading dot), creating the nested namespaces on the way. */
function nodeAt(json: Record<string, unknown>, fullName: string): Record<string, unknown> {
  let node = json;
  for (const part of fullName.replace(/^\./, '').split('.')) {
    const nested = (node.nested ??= {}) as Record<string, Record<string, unknown>>;
    node = nested[part] ??= {};
  }
  return node;
}
