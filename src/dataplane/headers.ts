/**
 * Reading what Envoy's ext_proc filter sends: header values (Envoy sends raw_value bytes; older versions the
 * value string) and the CEL attributes it was configured to attach (request_attributes, response_attributes).
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

/** WireStruct is a google.protobuf.Struct as decoded by proto-loader (oneofs: true). */
interface WireStruct {
  fields?: Record<string, { string_value?: string; kind?: string; [k: string]: unknown }>;
}

/** EXT_PROC_ATTRIBUTES_KEY is the key under which Envoy's ext_proc filter puts its attributes. */
export const EXT_PROC_ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

/** stringAttribute returns a string attribute (e.g. 'upstream.address') of a ProcessingRequest, or null. */
export function stringAttribute(attributes: Record<string, WireStruct> | undefined, name: string): string | null {
  const v = attributes?.[EXT_PROC_ATTRIBUTES_KEY]?.fields?.[name]?.string_value;
  return typeof v === 'string' && v.length > 0 ? v : null;
}
