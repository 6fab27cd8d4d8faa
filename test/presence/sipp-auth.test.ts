/**
 * Digest authentication (RFC 3261 section 22, RFC 2617 MD5 with qop=auth) against SIPp's digest.xml: every
 * transaction is challenged, 401 for REGISTER and SUBSCRIBE (checked by SIPp's verifyauth), 407 for PUBLISH
 * (whose Proxy-Authorization this test checks itself). The password is read once from a file and never logged.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { isPlbError } from '../../src/core/errors.ts';
import { SipPresenceClient } from '../../src/presence/sip-presence-client.ts';
import { startSipp } from '../harness/sipp.ts';
import { waitFor } from '../harness/ports.ts';
import { makeClient, newUser } from './helpers.ts';

const USERNAME = 'presencelb-auth';
const PASSWORD = 'pr3sence-s3cret-Zq9';

/** passwordFile writes the password (with a trailing newline, as editors leave it) to a private temp file. */
function passwordFile(t: { teardown(fn: () => void): void }, password: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'plb-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'password');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return file;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** digestParams parses the parameters of a Digest credentials value. */
function digestParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/([a-z-]+)=("([^"]*)"|[^,\s]+)/gi)) out[m[1]!.toLowerCase()] = m[3] ?? m[2]!;
  return out;
}

test('401 and 407 challenges are answered with the configured credentials; the password is never logged', async (t) => {
  const sipp = await startSipp({ scenario: 'digest.xml', keys: { username: USERNAME, password: PASSWORD } });
  t.teardown(() => sipp.close());
  const { client, sink, log } = makeClient(sipp.url, { opTimeoutMs: 2000, auth: { username: USERNAME, passwordFile: passwordFile(t, PASSWORD) } });
  t.teardown(() => client.stop());
  const user = newUser();

  await client.register(user);
  await client.publish(user, { name: 'app-a', host: '127.0.0.1', port: 8081 });
  await client.subscribe(user);
  await sink.waitFor(user, () => true, 'the first NOTIFY');
  await client.subscribe(user); // an in-dialog refresh, challenged too
  await waitFor('the NOTIFY after the refresh', () => sink.forUser(user).length === 2, 2000, 10);
  await client.unsubscribe(user);
  await client.unpublish(user);
  await client.unregister(user);

  const sent = sipp.messages().filter((m) => m.direction === 'sent' && m.status !== null);
  const received = sipp.messages().filter((m) => m.direction === 'received' && m.method !== null);
  t.deepEqual(sent.filter((m) => m.status === 403), [], 'SIPp accepted every set of credentials');
  // Each transaction: first without credentials (or with stale ones), challenged, then sent again with them.
  for (const method of ['REGISTER', 'PUBLISH', 'SUBSCRIBE']) {
    const reqs = received.filter((m) => m.method === method);
    t.true(reqs.length >= 4, `${method}: ${reqs.length} requests`);
    t.true(reqs.some((m) => m.header(method === 'PUBLISH' ? 'proxy-authorization' : 'authorization')), `${method} carried credentials`);
  }
  // PUBLISH: SIPp cannot check Proxy-Authorization, so check the digest here (RFC 2617 section 3.2.2.1).
  const pubs = received.filter((m) => m.method === 'PUBLISH' && m.header('proxy-authorization'));
  t.is(pubs.length, 2);
  for (const p of pubs) {
    const d = digestParams(p.header('proxy-authorization')!);
    t.is(d.username, USERNAME);
    t.is(d.realm, 'presencelb.test');
    t.is(d.algorithm, 'MD5');
    const ha1 = md5(`${USERNAME}:${d.realm}:${PASSWORD}`);
    const ha2 = md5(`PUBLISH:${d.uri}`);
    t.is(d.response, md5(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`), 'the digest is made from the configured password');
  }
  t.false(sipp.messages().some((m) => m.text.includes(PASSWORD)), 'the password never goes on the wire');
  t.false(JSON.stringify(log.entries).includes(PASSWORD), 'the password is never logged');
  t.is(sipp.errors(), '');
});

test('wrong credentials: the operation rejects PRESENCE_REJECTED with the status (403), nothing is held', async (t) => {
  const sipp = await startSipp({ scenario: 'digest.xml', keys: { username: USERNAME, password: PASSWORD } });
  t.teardown(() => sipp.close());
  const { client, log } = makeClient(sipp.url, { opTimeoutMs: 2000, auth: { username: USERNAME, passwordFile: passwordFile(t, 'not-the-password') } });
  t.teardown(() => client.stop());
  const user = newUser();
  const reg = await t.throwsAsync(client.register(user));
  t.true(isPlbError(reg, 'PRESENCE_REJECTED'), String(reg));
  t.regex(reg!.message, /403/);
  const sub = await t.throwsAsync(client.subscribe(user));
  t.true(isPlbError(sub, 'PRESENCE_REJECTED'), String(sub));
  t.false(client.held(user).subscribed);
  t.false(JSON.stringify(log.entries).includes('not-the-password'));
  t.is(sipp.errors(), '');
});

test('without presence.auth a challenged request is rejected (SIP.js answers with no password; the server says 403)', async (t) => {
  const sipp = await startSipp({ scenario: 'digest.xml', keys: { username: USERNAME, password: PASSWORD } });
  t.teardown(() => sipp.close());
  const { client } = makeClient(sipp.url, { opTimeoutMs: 2000 });
  t.teardown(() => client.stop());
  const err = await t.throwsAsync(client.register(newUser()));
  t.true(isPlbError(err, 'PRESENCE_REJECTED'), String(err));
  t.regex(err!.message, /403/);
});

test('the password file is read once, at construction; an unreadable or empty one is CONFIG_INVALID naming the file only', (t) => {
  const file = passwordFile(t, PASSWORD);
  const { client } = makeClient('tcp://127.0.0.1:9', { auth: { username: USERNAME, passwordFile: file } });
  rmSync(file);
  t.truthy(client, 'constructed while the file existed; nothing reads it later');
  const options = (passwordFile: string) => ({ ...baseOptions(), auth: { username: USERNAME, passwordFile } });
  const missing = t.throws(() => new SipPresenceClient(options(path.join(os.tmpdir(), 'plb-no-such-file'))));
  t.true(isPlbError(missing, 'CONFIG_INVALID'), String(missing));
  t.regex(missing!.message, /presence\.auth\.passwordFile: cannot read .*plb-no-such-file: ENOENT/);
  const empty = passwordFile(t, '');
  const e2 = t.throws(() => new SipPresenceClient(options(empty)));
  t.regex(e2!.message, /holds no password/);
});

function baseOptions() {
  return {
    url: 'tcp://127.0.0.1:9',
    domain: 'presencelb.test',
    registerExpiresSec: 300,
    publishExpiresSec: 300,
    subscribeExpiresSec: 300,
    sink: { onNotify: () => undefined },
    clock: { now: () => Date.now(), setTimer: (ms: number, fn: () => void) => { const h = setTimeout(fn, ms); return () => clearTimeout(h); } },
    log: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  };
}
