#!/usr/bin/env -S npx tsx
/**
 * Mints JSON Web Tokens (RFC 7519, signed ES256 per RFC 7518 §3.4) that the shipped Envoy bootstrap accepts, for
 * trying presencelb by hand. DEMO ONLY: the signing key is envoy/demo-jwt/demo-private-key.pem, committed so the
 * demo works from a clean clone; anyone can read it, so anyone can mint a token for any user. A real deployment
 * replaces the bootstrap's JWKS with its identity provider's (remote_jwks) and never holds a signing key.
 *
 *   npx tsx scripts/demo-token.ts <uuid>                  # prints a token for that user, valid for an hour
 *   npx tsx scripts/demo-token.ts <uuid> --ttl 60         # valid for 60 s
 *   npx tsx scripts/demo-token.ts --new-demo-keys         # writes a fresh demo key pair to envoy/demo-jwt/ (then
 *                                                         # paste jwks.json into envoy/envoy.yaml's local_jwks)
 *
 *   curl -H "authorization: Bearer $(npx tsx scripts/demo-token.ts <uuid>)" http://127.0.0.1:10000/hello
 *
 * Tests import mintToken and newSigningKey from here to sign with keys they generate themselves.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** DEMO_JWT_DIR holds the demo key pair and its JWKS. */
export const DEMO_JWT_DIR = fileURLToPath(new URL('../envoy/demo-jwt/', import.meta.url));
/** DEMO_ISSUER and DEMO_AUDIENCE are what the shipped bootstrap's jwt_authn provider requires (iss, aud). */
export const DEMO_ISSUER = 'presencelb-demo';
export const DEMO_AUDIENCE = 'presencelb';
/** DEMO_KID is the key id of the demo key in the JWKS. */
export const DEMO_KID = 'presencelb-demo-1';

/** SigningKey is a private EC P-256 key with its key id and the JWKS that verifies it. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** jwks is the JSON Web Key Set (RFC 7517 §5) with the public half, as a JSON string. */
  readonly jwks: string;
}

/** jwksOf returns the JWKS text holding the public half of privateKey under kid. */
export function jwksOf(privateKey: KeyObject, kid: string): string {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return JSON.stringify({ keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, alg: 'ES256', use: 'sig', kid }] });
}

/** newSigningKey generates a fresh P-256 key pair (tests: a key nobody else has). */
export function newSigningKey(kid = `test-${Date.now().toString(36)}`): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwks: jwksOf(privateKey, kid) };
}

/** demoSigningKey reads the committed demo key (envoy/demo-jwt/demo-private-key.pem). */
export function demoSigningKey(): SigningKey {
  const privateKey = createPrivateKey(fs.readFileSync(path.join(DEMO_JWT_DIR, 'demo-private-key.pem')));
  return { kid: DEMO_KID, privateKey, jwks: jwksOf(privateKey, DEMO_KID) };
}

/** TokenOptions name the claims; sub is required, the rest default to what the shipped bootstrap accepts. */
export interface TokenOptions {
  readonly sub?: unknown;
  readonly iss?: string;
  readonly aud?: string;
  /** ttlSec is how long the token is valid from now (negative: already expired). Default 3600. */
  readonly ttlSec?: number;
  /** now is the issue time in seconds since the epoch (default: the current time). */
  readonly now?: number;
  /** extra claims, merged last (a test can drop sub by passing sub: undefined and no extra). */
  readonly extra?: Record<string, unknown>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** mintToken returns a compact JWS (header.payload.signature) signed ES256 with key. */
export function mintToken(key: SigningKey, o: TokenOptions): string {
  const now = o.now ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: o.iss ?? DEMO_ISSUER, aud: o.aud ?? DEMO_AUDIENCE, iat: now, exp: now + (o.ttlSec ?? 3600) };
  if (o.sub !== undefined) claims.sub = o.sub;
  Object.assign(claims, o.extra);
  const signingInput = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: key.kid }))}.${b64url(JSON.stringify(claims))}`;
  // JWS ES256 wants the raw r||s form (RFC 7518 §3.4), not DER.
  const signature = sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${b64url(signature)}`;
}

/** writeDemoKeys writes a fresh demo key pair: demo-private-key.pem and jwks.json. */
function writeDemoKeys(): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.mkdirSync(DEMO_JWT_DIR, { recursive: true });
  fs.writeFileSync(path.join(DEMO_JWT_DIR, 'demo-private-key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
  fs.writeFileSync(path.join(DEMO_JWT_DIR, 'jwks.json'), `${jwksOf(privateKey, DEMO_KID)}\n`);
  process.stdout.write(`wrote ${DEMO_JWT_DIR}demo-private-key.pem and jwks.json; put jwks.json into envoy/envoy.yaml local_jwks.inline_string\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { ttl: { type: 'string' }, 'new-demo-keys': { type: 'boolean' } } });
  if (values['new-demo-keys']) {
    writeDemoKeys();
  } else {
    const [sub] = positionals;
    const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
    if (!sub || !Number.isInteger(ttl)) {
      process.stderr.write('usage: npx tsx scripts/demo-token.ts <user-uuid> [--ttl SECONDS] | --new-demo-keys\n');
      process.exit(2);
    }
    process.stdout.write(`${mintToken(demoSigningKey(), { sub, ttlSec: ttl })}\n`);
  }
}
