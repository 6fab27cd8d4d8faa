/** kamailio/kamailio.cfg itself: what it answers on its one port besides the SIP.js flows (raw SIP over TCP, HTTP). */
import net from 'node:net';
import http from 'node:http';
import anyTest, { type TestFn } from 'ava';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';

const test = anyTest as TestFn<{ k: Kamailio }>;

test.before(async (t) => {
  t.context.k = await startKamailio();
});
test.after.always(async (t) => {
  await t.context.k?.stop();
});

/** sipOverTcp sends one request over plain SIP/TCP and resolves with the first response's status line. */
function sipOverTcp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(request));
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\r\n\r\n')) {
        sock.destroy();
        resolve(buf.split('\r\n')[0]!);
      }
    });
    sock.on('error', reject);
    sock.setTimeout(3000, () => sock.destroy(new Error(`no answer; got ${JSON.stringify(buf)}`)));
  });
}

function request(method: string, uri: string): string {
  const port = 40000 + Math.floor(Math.random() * 1000);
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bK-${Math.random().toString(36).slice(2)};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@presencelb.test>;tag=${Math.random().toString(36).slice(2)}`,
    `To: <${uri}>`,
    `Call-ID: ${Math.random().toString(36).slice(2)}@probe`,
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

test('OPTIONS is answered 200, in or out of a dialog', async (t) => {
  t.is(await sipOverTcp(t.context.k.port, request('OPTIONS', 'sip:presencelb.test')), 'SIP/2.0 200 OK');
  const inDialog = request('OPTIONS', 'sip:x@presencelb.test').replace(/^To: (.*)$/m, 'To: $1;tag=abc');
  t.is(await sipOverTcp(t.context.k.port, inDialog), 'SIP/2.0 200 OK');
});

test('an in-dialog request that is not ours is answered 404, an unknown method 405', async (t) => {
  const inDialog = request('INFO', 'sip:x@presencelb.test').replace(/^To: (.*)$/m, 'To: $1;tag=nope');
  t.is(await sipOverTcp(t.context.k.port, inDialog), 'SIP/2.0 404 Not here');
  t.is(await sipOverTcp(t.context.k.port, request('INFO', 'sip:x@presencelb.test')), 'SIP/2.0 405 Method Not Allowed');
});

test('MESSAGE to a user with no binding is answered 404', async (t) => {
  t.is(await sipOverTcp(t.context.k.port, request('MESSAGE', 'sip:nobody@presencelb.test')), 'SIP/2.0 404 Not Found');
});

/** httpFrom makes one HTTP request from a chosen loopback source address, on a fresh connection. */
function httpFrom(localAddress: string, port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('JSON-RPC and the subscription query are served to 127.0.0.1 only', async (t) => {
  const rpc = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'core.version' });
  const local = await httpFrom('127.0.0.1', t.context.k.port, 'POST', '/RPC', rpc);
  t.is(local.status, 200);
  t.regex(JSON.parse(local.body).result, /kamailio 5\./);
  const other = await httpFrom('127.0.0.2', t.context.k.port, 'POST', '/RPC', rpc);
  t.is(other.status, 403);
  const subs = await httpFrom('127.0.0.2', t.context.k.port, 'GET', '/presence/subscribers?uri=sip%3Ax%40d');
  t.is(subs.status, 403);
});

test('the subscription query needs a uri and answers JSON', async (t) => {
  t.is((await httpFrom('127.0.0.1', t.context.k.port, 'GET', '/presence/subscribers')).status, 400);
  const r = await httpFrom('127.0.0.1', t.context.k.port, 'GET', '/presence/subscribers?uri=sip%3Anobody%40presencelb.test');
  t.deepEqual(JSON.parse(r.body), { uri: 'sip:nobody@presencelb.test', event: 'presence', hasSubscribers: false });
  t.is((await httpFrom('127.0.0.1', t.context.k.port, 'GET', '/elsewhere')).status, 404);
});

test('the RPC methods the harness relies on exist in this Kamailio', async (t) => {
  const methods: string[] = await t.context.k.rpc('system.listMethods');
  for (const m of ['ul.dump', 'ul.lookup', 'presence.presentity_list', 'core.version']) t.true(methods.includes(m), m);
  t.false(methods.some((m) => /^presence\.(subscription|watcher|active_watchers)/.test(m)), 'no subscription listing RPC in 5.6');
});
