/**
 * The admin API's secrets, read once at start from the files the configuration names: the bearer token and the
 * TLS key material. Problems come back as values naming the config field; the token itself never appears in an
 * error, a log line or a response.
 */
import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Config } from '../config/schema.ts';
import { readServerTls } from '../tls-credentials.ts';
import { fail, ok, type FieldError, type Result } from '../core/result.ts';

/** AdminSecrets are what the admin server needs from files. */
export interface AdminSecrets {
  /** token is the bearer token calls must carry, or null when authentication is off. */
  readonly token: string | null;
  readonly credentials: ServerCredentials;
  /** tls says how the API is served: plaintext, TLS, or TLS with client certificates required. */
  readonly tls: 'off' | 'tls' | 'mutual';
}

/** TOKEN_RE: a token is visible ASCII without spaces (RFC 6750 b64token, and more), 16 to 4096 characters. */
const TOKEN_RE = /^[\x21-\x7e]{16,4096}$/;

/** readAdminSecrets reads the token file (surrounding whitespace ignored) and the TLS files of the admin config. */
export function readAdminSecrets(admin: Config['admin']): Result<AdminSecrets> {
  const errors: FieldError[] = [];
  const read = (path: string, file: string): Buffer | null => {
    try {
      return readFileSync(file);
    } catch (e) {
      errors.push({ code: 'CONFIG_INVALID', path, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return null;
    }
  };
  let token: string | null = null;
  if (admin.tokenFile) {
    const raw = read('admin.tokenFile', admin.tokenFile);
    if (raw) {
      token = raw.toString('utf8').trim();
      if (!TOKEN_RE.test(token)) {
        errors.push({ code: 'CONFIG_INVALID', path: 'admin.tokenFile', message: `${admin.tokenFile} must hold one token of 16 to 4096 visible ASCII characters` });
      }
    }
  }
  const served = readServerTls(admin.tls, 'admin.tls');
  if (!served.ok) errors.push(...served.errors);
  const credentials = served.ok ? served.value.credentials : ServerCredentials.createInsecure();
  const tls = served.ok ? served.value.mode : 'off';
  return errors.length ? fail(...errors) : ok({ token, credentials, tls });
}
