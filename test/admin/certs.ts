/**
 * Throw-away TLS material for the admin API tests, made with the openssl command: a CA, a server certificate for
 * 127.0.0.1 (IP SAN) and a client certificate, both signed by the CA, plus a bearer token file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** TestSecrets are the paths of the files made, and the token itself. */
export interface TestSecrets {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly tokenFile: string;
  readonly token: string;
}

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** makeSecrets writes the CA, the server and client certificates and keys, and a token file, to a new temp dir. */
export function makeSecrets(): TestSecrets {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-tls-'));
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=presencelb test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=presencelb test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  }
  const token = randomBytes(24).toString('base64url');
  const tokenFile = path.join(dir, 'admin.token');
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const p = (f: string) => path.join(dir, f);
  return { dir, caFile: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key'), tokenFile, token };
}
