/**
 * UserId is a user's UUID in canonical form (lower-case, 8-4-4-4-12 hex). It is the only identity presencelb
 * stores, puts into SIP URIs and route matchers; parseUserId is the only way to obtain one.
 */
import { ok, fail, type Result } from './result.ts';

declare const userIdBrand: unique symbol;
/** UserId is a validated, canonical UUID string. */
export type UserId = string & { readonly [userIdBrand]: true };

/**
 * parseUserId accepts exactly 36 characters of hex digits and dashes in UUID layout (either case) and returns the
 * lower-case form. Anything else (whitespace, CR/LF, braces, URN prefix, other lengths) is rejected.
 *
 * It checks the characters one by one rather than with a regular expression on a lower-cased copy: the data path
 * reads a user from every flow log or access log entry (thousands a second), and a UUID already in lower case,
 * as Envoy passes on a verified subject or a header, is returned as it is, with no copy made.
 */
export function parseUserId(raw: unknown, path = 'userId'): Result<UserId> {
  if (typeof raw !== 'string' || raw.length === 0) {
    return fail({ code: 'IDENTITY_MISSING', path, message: 'no user identity given' });
  }
  if (raw.length !== 36) {
    return fail({ code: 'IDENTITY_MALFORMED', path, message: `expected a 36-character UUID, got ${raw.length} characters` });
  }
  let upper = false;
  for (let i = 0; i < 36; i++) {
    const c = raw.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return notUuid(path); // '-'
    } else if (c >= 65 && c <= 70) upper = true; // 'A'-'F'
    else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return notUuid(path); // '0'-'9', 'a'-'f'
  }
  return ok((upper ? raw.toLowerCase() : raw) as UserId);
}

function notUuid(path: string): Result<UserId> {
  return fail({ code: 'IDENTITY_MALFORMED', path, message: 'not a UUID (8-4-4-4-12 hexadecimal digits)' });
}
