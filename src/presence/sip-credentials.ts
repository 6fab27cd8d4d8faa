/**
 * Files the SIP client reads once, when it is constructed: the digest password and the CA certificates. Errors
 * name the file and what is wrong with it, never its content; the password is held only by SIP.js's user agent
 * (which sends MD5 digests of it, never the password itself).
 */
import { readFileSync } from 'node:fs';
import { PlbError } from '../core/errors.ts';
import type { SipCredentials } from './connection.ts';
import type { SipAuthOptions } from './sip-presence-client-options.ts';

/**
 * readCredentials reads the password file: its content up to the first line break (so a trailing newline is not
 * part of the password). Rejects with CONFIG_INVALID when the file cannot be read or the password is empty.
 */
export function readCredentials(auth: SipAuthOptions): SipCredentials {
  let text: string;
  try {
    text = readFileSync(auth.passwordFile, 'utf8');
  } catch (e) {
    throw new PlbError('CONFIG_INVALID', `presence.auth.passwordFile: cannot read ${auth.passwordFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const password = text.split(/\r?\n/, 1)[0] ?? '';
  if (password === '') throw new PlbError('CONFIG_INVALID', `presence.auth.passwordFile: ${auth.passwordFile} holds no password on its first line`);
  return { username: auth.username, password };
}

/** readCaFile reads a PEM file of CA certificates; rejects with CONFIG_INVALID when it holds none. */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PlbError('CONFIG_INVALID', `presence.caFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new PlbError('CONFIG_INVALID', `presence.caFile: ${file} holds no PEM certificate`);
  return text;
}
