/**
 * The transports the presence URL's scheme selects: tcp:// directly against Kamailio (which serves SIP over TCP on
 * its WebSocket port); tls:// and wss:// through a TLS-terminating relay (this Kamailio build has no TLS module;
 * the relay only moves bytes, so SIP still runs between the client and the server), with a throw-away CA given as
 * presence.caFile. Behind such a relay Kamailio sees plain TCP/WS while the client's Contact says tls/wss, so it
 * cannot open the way back for NOTIFYs (a Kamailio with its own TLS listener can): over tls:// and wss://
 * Kamailio is checked for everything answered on the client's connection, and a full round trip including
 * NOTIFYs runs over tls:// against SIPp, which answers and notifies on the connection a call came in on.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { isPlbError } from '../../src/core/errors.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { startSipDevice } from '../harness/sip-device.ts';
import { startSipp } from '../harness/sipp.ts';
import { DOMAIN, makeClient, newUser, tuple } from './helpers.ts';

interface Ctx {
  k: Kamailio;
  dir: string;
  /** caFile holds the self-signed certificate the relays present (subjectAltName IP:127.0.0.1). */
  caFile: string;
  key: string;
  cert: string;
  /** relayPort is a TLS relay to Kamailio's port. */
  relayPort: number;
  relays: tls.Server[];
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  t.context.k = await startKamailio();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'plb-tls-'));
  t.context.dir = dir;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=presencelb test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  t.context.caFile = path.join(dir, 'cert.pem');
  t.context.key = readFileSync(path.join(dir, 'key.pem'), 'utf8');
  t.context.cert = readFileSync(t.context.caFile, 'utf8');
  t.context.relays = [];
  t.context.relayPort = await startRelay(t.context, t.context.k.port);
});
/** startRelay listens with TLS on a free port and pipes every connection to 127.0.0.1:target in the clear. */
async function startRelay(c: Ctx, target: number): Promise<number> {
  const relay = tls.createServer({ key: c.key, cert: c.cert }, (down) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    down.pipe(up);
    up.pipe(down);
    const close = () => {
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  c.relays.push(relay);
  return (relay.address() as net.AddressInfo).port;
}

test.after.always(async (t) => {
  for (const r of t.context.relays ?? []) r.close();
  await t.context.k?.stop();
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true });
});

/**
 * roundTrip registers, publishes and subscribes one user and checks Kamailio; with notifies, also the NOTIFYs of
 * the subscription; then sends a reconnect MESSAGE to the user's device and withdraws everything.
 */
async function roundTrip(t: ExecutionContext<Ctx>, url: string, o: { caFile?: string; notifies: boolean }) {
  const { client, sink } = makeClient(url, o.caFile ? { caFile: o.caFile } : {});
  t.teardown(() => client.stop());
  const user = newUser();
  const device = await startSipDevice({ wsUrl: t.context.k.wsUrl, domain: DOMAIN, user });
  t.teardown(() => device.stop());
  await client.register(user);
  await client.publish(user, { name: 'app-a', host: '127.0.0.1', port: 8081 });
  t.regex((await t.context.k.presentities()).find((p: any) => p.user === user)?.body ?? '', /app-a/);
  await client.subscribe(user);
  if (o.notifies) {
    await sink.waitFor(user, (n) => tuple(n, OWN_TUPLE_ID) !== undefined, 'our tuple');
    await device.publish('closed', 'gone');
    const n = await sink.waitFor(user, (x) => tuple(x, 'device')?.basic === 'closed', 'the device closed');
    t.is(n.subscription.state, 'active');
  }
  const bindings = await t.context.k.bindingsOf(bindingAor(user, DOMAIN));
  t.is(bindings.length, 1);
  t.regex(bindings[0]!.contact, new RegExp(`;transport=${new URL(url).protocol.slice(0, -1)}$`), 'the Contact names the transport');
  t.regex(bindings[0]!.received ?? '', /^sip:127\.0\.0\.1:\d+;transport=(tcp|ws)$/, 'Kamailio reaches the client over its connection');
  await client.sendReconnect(user, { name: 'app-a', host: '127.0.0.1', port: 8081 });
  await device.waitForMessage();
  await client.unsubscribe(user);
  await client.unpublish(user);
  await client.unregister(user);
  // Without a NOTIFY the client has no dialog to end (RFC 6665: the NOTIFY makes it); Kamailio drops such a
  // subscription itself once its NOTIFY fails (timeout_rm_subs).
  if (o.notifies) t.false(await t.context.k.hasSubscribers(presentityUri(user, DOMAIN)));
  t.deepEqual(await t.context.k.bindingsOf(bindingAor(user, DOMAIN)), []);
  t.deepEqual((await t.context.k.presentities()).filter((p: any) => p.user === user && String(p.body).includes(`id="${OWN_TUPLE_ID}"`)), []);
}

test('tcp://: register, publish, subscribe, NOTIFYs, MESSAGE and withdrawal against Kamailio', (t) => roundTrip(t, t.context.k.tcpUrl, { notifies: true }));
test('tls:// with presence.caFile, to Kamailio: every request answered over TLS', (t) =>
  roundTrip(t, `tls://127.0.0.1:${t.context.relayPort}`, { caFile: t.context.caFile, notifies: false }));
test('wss:// with presence.caFile, to Kamailio: every request answered over secure WebSocket', (t) =>
  roundTrip(t, `wss://127.0.0.1:${t.context.relayPort}`, { caFile: t.context.caFile, notifies: false }));

test('tls:// with presence.caFile, to SIPp: REGISTER, PUBLISH, SUBSCRIBE and the NOTIFYs, all over TLS', async (t) => {
  const sipp = await startSipp({ scenario: 'presence-server.xml' });
  t.teardown(() => sipp.close());
  const port = await startRelay(t.context, sipp.port);
  const { client, sink } = makeClient(`tls://127.0.0.1:${port}`, { caFile: t.context.caFile });
  t.teardown(() => client.stop());
  const user = newUser();
  await client.register(user);
  await client.publish(user, null);
  await client.subscribe(user);
  const n = await sink.waitFor(user, () => true, 'the NOTIFY over TLS');
  t.is(tuple(n, 'device')?.basic, 'open');
  t.deepEqual(Object.values(client.held(user)), [true, true, true]);
  t.regex(sipp.received('REGISTER')[0]!.header('via') ?? '', /^SIP\/2\.0\/TLS /, 'Via names TLS');
  await client.unsubscribe(user);
  t.is(sipp.errors(), '');
});

for (const scheme of ['tls', 'wss'] as const) {
  test(`${scheme}:// without the CA: the certificate is refused, start() rejects PRESENCE_UNAVAILABLE`, async (t) => {
    const { client } = makeClient(`${scheme}://127.0.0.1:${t.context.relayPort}`, { opTimeoutMs: 2000 });
    t.teardown(() => client.stop());
    const err = await t.throwsAsync(client.start());
    t.true(isPlbError(err, 'PRESENCE_UNAVAILABLE'), String(err));
    t.regex(err!.message, /self[- ]signed certificate/);
  });
}

test('a caFile without a PEM certificate is CONFIG_INVALID at construction', (t) => {
  const bad = path.join(t.context.dir, 'not-a-cert.pem');
  writeFileSync(bad, 'hello\n');
  const err = t.throws(() => makeClient(`tls://127.0.0.1:${t.context.relayPort}`, { caFile: bad }));
  t.true(isPlbError(err, 'CONFIG_INVALID'), String(err));
  t.regex(err!.message, /presence\.caFile: .*holds no PEM certificate/);
});
