/**
 * UserId is a user's UUID in canonical form (lower-case, 8-4-4-4-12 hex). It is the only identity presencelb
 * stores, puts into SIP URIs and route matchers; parseUserId is the only way to obtain one.
 */
import { ok, fail, type Result } from './result.ts';

declare const userIdBrand: unique symbol;
/** UserId is a validated, canonical UUID string. */
export type UserId = string & { readonly [userIdBrand]: true };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * parseUserId accepts exactly 36 characters of hex digits and dashes in UUID layout (either case) and returns the
 * lower-case form. Anything else (whitespace, CR/LF, braces, URN prefix, other lengths) is rejected.
 */
export function parseUserId(raw: unknown, path = 'userId'): Result<UserId> {
  if (typeof raw !== 'string' || raw.length === 0) {
    return fail({ code: 'IDENTITY_MISSING', path, message: 'no user identity given' });
  }
  if (raw.length !== 36) {
    return fail({ code: 'IDENTITY_MALFORMED', path, message: `expected a 36-character UUID, got ${raw.length} characters` });
  }
  const lower = raw.toLowerCase();
  if (!UUID_RE.test(lower)) {
    return fail({ code: 'IDENTITY_MALFORMED', path, message: 'not a UUID (8-4-4-4-12 hexadecimal digits)' });
  }
  return ok(lower as UserId);
}
