/**
 * The user's identity on a request, from a configured header. Exactly one occurrence of the header is accepted,
 * and its value must be a canonical UUID (core/user-id.ts): anything else is reported with a coded error and the
 * request is answered 400 without the value ever being stored, logged or echoed.
 */
import { fail, type Result } from '../core/result.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { headerValues, type WireHeader } from './headers.ts';

/** MAX_IDENTITY_BYTES bounds what is even looked at; a UUID is 36 bytes. */
const MAX_IDENTITY_BYTES = 256;

/** identityFromHeaders finds the user in request headers. */
export function identityFromHeaders(headers: readonly WireHeader[] | undefined, header: string): Result<UserId> {
  const values = headerValues(headers, header);
  if (values.length === 0) return fail({ code: 'IDENTITY_MISSING', path: header, message: `request has no ${header} header` });
  if (values.length > 1) return fail({ code: 'IDENTITY_AMBIGUOUS', path: header, message: `request has ${values.length} ${header} headers; exactly one is allowed` });
  const v = values[0]!;
  if (v.length > MAX_IDENTITY_BYTES) return fail({ code: 'IDENTITY_MALFORMED', path: header, message: `${header} is ${v.length} bytes long; a UUID has 36` });
  const r = parseUserId(v, header);
  if (!r.ok) return fail(...r.errors.map((e) => ({ ...e, message: `${header}: ${e.message}` })));
  return r;
}
