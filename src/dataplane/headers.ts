/**
 * Reading what Envoy sends on the data path: header values (Envoy sends raw_value bytes; older versions the value
 * string), protobuf map fields (decoded from the descriptor image either as an object or as a list of
 * {key, value} entries), google.protobuf.Struct values (the CEL attributes the ext_proc filter attaches,
 * request_attributes and response_attributes, and dynamic metadata such as a verified JWT payload).
 */

/** WireHeader is an envoy.config.core.v3.HeaderValue as decoded by proto-loader. */
export interface WireHeader {
  key?: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}

/** headerValues returns every value of header `name` (lower-case) in the order Envoy sent them. */
export function headerValues(headers: readonly WireHeader[] | undefined, name: string): string[] {
  const out: string[] = [];
  for (const h of headers ?? []) {
    if (h.key !== name) continue;
    out.push(h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('latin1') : (h.value ?? ''));
  }
  return out;
}

/** WireMap is a protobuf map field in either decoded shape. */
export type WireMap<V> = Record<string, V> | ReadonlyArray<{ key?: string; value?: V }> | undefined;

/** mapGet reads one key of a protobuf map field, whichever shape it was decoded to. */
export function mapGet<V>(m: WireMap<V>, key: string): V | undefined {
  if (!m) return undefined;
  if (Array.isArray(m)) return (m as ReadonlyArray<{ key?: string; value?: V }>).find((e) => e.key === key)?.value;
  return (m as Record<string, V>)[key];
}

/** WireValue is a google.protobuf.Value as decoded by proto-loader (oneofs: true: `kind` names the set field). */
export interface WireValue {
  kind?: string;
  string_value?: string;
  struct_value?: WireStruct;
}

/** WireStruct is a google.protobuf.Struct as decoded by proto-loader. */
export interface WireStruct {
  fields?: WireMap<WireValue>;
}

/** WireMetadata is an envoy.config.core.v3.Metadata (dynamic metadata) as decoded by proto-loader. */
export interface WireMetadata {
  filter_metadata?: WireMap<WireStruct>;
}

/** EXT_PROC_ATTRIBUTES_KEY is the key under which Envoy's ext_proc filter puts its attributes. */
export const EXT_PROC_ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

/** stringAttribute returns a string attribute (e.g. 'upstream.address') of a ProcessingRequest, or null. */
export function stringAttribute(attributes: WireMap<WireStruct>, name: string): string | null {
  const v = mapGet(mapGet(attributes, EXT_PROC_ATTRIBUTES_KEY)?.fields, name)?.string_value;
  return typeof v === 'string' && v.length > 0 ? v : null;
}
