/**
 * Server TLS for presencelb's gRPC servers (xDS, ext_proc + access log, admin API), read once at start from the
 * files the configuration names. Problems come back as values naming the config field. With clientCaFile, clients
 * (Envoy, operators) must present a certificate that CA signed: mutual TLS.
 */
import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import type { TlsConfig } from './config/schema.ts';
import { fail, ok, type FieldError, type Result } from './core/result.ts';

/** ServerTls is how one server is served: its credentials and whether it is plaintext, TLS or mutual TLS. */
export interface ServerTls {
  readonly credentials: ServerCredentials;
  readonly mode: 'off' | 'tls' | 'mutual';
  /** pem is the material itself, for a server on node:http2 (the data path's, src/dataplane/h2-grpc.ts); absent: plaintext. */
  readonly pem?: TlsPem;
}

/** TlsPem is a server's TLS material; ca set means clients must present a certificate it signed (mutual TLS). */
export interface TlsPem {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
}

/** readServerTls reads tls (absent: plaintext); field names errors, e.g. 'xds.tls'. */
export function readServerTls(tls: TlsConfig | undefined, field: string): Result<ServerTls> {
  if (!tls) return ok({ credentials: ServerCredentials.createInsecure(), mode: 'off' });
  const errors: FieldError[] = [];
  const read = (key: string, file: string): Buffer | null => {
    try {
      return readFileSync(file);
    } catch (e) {
      errors.push({ code: 'CONFIG_INVALID', path: `${field}.${key}`, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return null;
    }
  };
  const cert = read('certFile', tls.certFile);
  const key = read('keyFile', tls.keyFile);
  const ca = tls.clientCaFile ? read('clientCaFile', tls.clientCaFile) : null;
  if (errors.length) return fail(...errors);
  try {
    const credentials = ServerCredentials.createSsl(ca, [{ cert_chain: cert!, private_key: key! }], ca !== null);
    return ok({ credentials, mode: ca ? 'mutual' : 'tls', pem: { cert: cert!, key: key!, ca } });
  } catch (e) {
    return fail({ code: 'CONFIG_INVALID', path: field, message: `unusable TLS material: ${(e as Error).message}` });
  }
}
