/**
 * The user's identity on a request, from one of two sources (config identity.source):
 *   - jwt (the default): the `sub` claim of the JWT payload Envoy's jwt_authn filter verified and put in dynamic
 *     metadata (payload_in_metadata), forwarded to presencelb through ext_proc's metadata_options and present in
 *     the access log's dynamic metadata. Headers are never consulted: a client cannot name itself.
 *   - header: exactly one occurrence of a configured header, which a trusted gateway in front of Envoy sets
 *     (envoy/envoy-trusted-header.yaml removes it from every other source).
 * Either way the value must be a canonical UUID (core/user-id.ts): anything else is reported with a coded error
 * and the request is answered 400 without the value ever being stored, logged or echoed.
 */
import { fail, type Result } from '../core/result.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { headerValues, mapGet, type WireHeader, type WireMetadata } from './headers.ts';

/** IdentitySettings is config identity: where a request's user comes from. */
export interface IdentitySettings {
  readonly source: 'jwt' | 'header';
  /** header carries the UUID with source header; with source jwt Envoy derives it from `sub` (for routing only). */
  readonly header: string;
  /** jwtMetadataNamespace is the dynamic metadata namespace of the verified payload (jwt_authn's filter name). */
  readonly jwtMetadataNamespace: string;
  /** jwtPayloadKey is jwt_authn's payload_in_metadata: the key of the payload in that namespace. */
  readonly jwtPayloadKey: string;
}

/** MAX_IDENTITY_BYTES bounds what is even looked at; a UUID is 36 bytes. */
const MAX_IDENTITY_BYTES = 256;

/** RequestIdentityInput is what a request offers to identify its user; which part counts depends on the source. */
export interface RequestIdentityInput {
  readonly headers?: readonly WireHeader[] | undefined;
  readonly metadata?: WireMetadata | undefined;
}

/** identityOf finds the user of a request from the configured source only. */
export function identityOf(settings: IdentitySettings, input: RequestIdentityInput): Result<UserId> {
  return settings.source === 'jwt'
    ? identityFromJwtMetadata(input.metadata, settings.jwtMetadataNamespace, settings.jwtPayloadKey)
    : identityFromHeaders(input.headers, settings.header);
}

/** identityFromHeaders finds the user in request headers: exactly one occurrence of header, a UUID. */
export function identityFromHeaders(headers: readonly WireHeader[] | undefined, header: string): Result<UserId> {
  const values = headerValues(headers, header);
  if (values.length === 0) return fail({ code: 'IDENTITY_MISSING', path: header, message: `request has no ${header} header` });
  if (values.length > 1) return fail({ code: 'IDENTITY_AMBIGUOUS', path: header, message: `request has ${values.length} ${header} headers; exactly one is allowed` });
  return checkedUserId(values[0]!, header);
}

/**
 * identityFromJwtMetadata reads `sub` from the verified JWT payload in dynamic metadata
 * (filter_metadata[namespace].fields[payloadKey].struct_value.fields.sub). A payload that is absent means the
 * request was not verified by jwt_authn (a bootstrap without it, or with allow_missing): IDENTITY_MISSING.
 */
export function identityFromJwtMetadata(metadata: WireMetadata | undefined, namespace: string, payloadKey: string): Result<UserId> {
  const path = `${namespace}.${payloadKey}.sub`;
  const payload = mapGet(mapGet(metadata?.filter_metadata, namespace)?.fields, payloadKey)?.struct_value;
  if (!payload) return fail({ code: 'IDENTITY_MISSING', path, message: 'request carries no verified JWT payload' });
  const sub = mapGet(payload.fields, 'sub');
  if (sub === undefined) return fail({ code: 'IDENTITY_MISSING', path, message: 'the verified JWT has no sub claim' });
  if (typeof sub.string_value !== 'string') return fail({ code: 'IDENTITY_MALFORMED', path, message: 'the JWT sub claim is not a string' });
  return checkedUserId(sub.string_value, 'JWT sub');
}

function checkedUserId(v: string, what: string): Result<UserId> {
  if (v.length > MAX_IDENTITY_BYTES) return fail({ code: 'IDENTITY_MALFORMED', path: what, message: `${what} is ${v.length} bytes long; a UUID has 36` });
  const r = parseUserId(v, what);
  if (!r.ok) return fail(...r.errors.map((e) => ({ ...e, message: `${what}: ${e.message}` })));
  return r;
}
