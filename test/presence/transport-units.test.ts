/** Table tests for the transport's pure parts: presence URLs, SIP stream framing, and SipTransport's state machine. */
import test from 'ava';
import { TransportState } from 'sip.js';
import { parsePresenceUrl } from '../../src/presence/presence-url.ts';
import { SipFramingError, SipStreamFramer } from '../../src/presence/sip-framing.ts';
import { SipTransport, type Wire, type WireEvents } from '../../src/presence/sip-transport.ts';

const urls: Array<[string, object | RegExp]> = [
  ['ws://127.0.0.1:5066', { scheme: 'ws', host: '127.0.0.1', port: 5066, viaProtocol: 'WS', secure: false }],
  ['wss://sip.example.org/ws', { scheme: 'wss', host: 'sip.example.org', port: 443, viaProtocol: 'WSS', secure: true }],
  ['tcp://127.0.0.1:5060', { scheme: 'tcp', host: '127.0.0.1', port: 5060, viaProtocol: 'TCP', secure: false }],
  ['tcp://kamailio', { scheme: 'tcp', host: 'kamailio', port: 5060 }],
  ['tls://[::1]:5061', { scheme: 'tls', host: '::1', port: 5061, viaProtocol: 'TLS', secure: true }],
  ['tls://sip.example.org', { scheme: 'tls', port: 5061 }],
  ['udp://127.0.0.1:5060', /ws:\/\/, wss:\/\/, tcp:\/\/ or tls:\/\//],
  ['http://127.0.0.1', /ws:\/\/, wss:\/\/, tcp:\/\/ or tls:\/\//],
  ['tcp://127.0.0.1:5060/path', /no path/],
  ['tcp://127.0.0.1:0', /port must be 1-65535/],
  ['tcp://user:pw@127.0.0.1:5060', /credentials/],
  ['', /ws:\/\//],
];
for (const [url, want] of urls) {
  test(`parsePresenceUrl(${JSON.stringify(url)})`, (t) => {
    const r = parsePresenceUrl(url);
    if (want instanceof RegExp) {
      if (r.ok) return t.fail(`accepted: ${JSON.stringify(r.value)}`);
      t.is(r.errors[0]!.code, 'CONFIG_INVALID');
      t.is(r.errors[0]!.path, 'url');
      return t.regex(r.errors[0]!.message, want);
    }
    if (!r.ok) return t.fail(JSON.stringify(r.errors));
    t.like(r.value, { url, ...want });
  });
}

/** frame feeds chunks to a framer and returns the messages and pings it produced. */
function frame(chunks: Array<string | Buffer>, max?: number) {
  const messages: string[] = [];
  let pings = 0;
  const f = new SipStreamFramer((m) => messages.push(m), () => (pings += 1), max);
  for (const c of chunks) f.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  return { messages, pings, buffered: f.buffered };
}

const msg = (body: string, cl = Buffer.byteLength(body), name = 'Content-Length') => `NOTIFY sip:a@b SIP/2.0\r\nCall-ID: x\r\n${name}: ${cl}\r\n\r\n${body}`;

test('framing: whole messages, several in one chunk, and a body split anywhere', (t) => {
  const a = msg('<presence/>');
  const b = msg('');
  t.deepEqual(frame([a + b]).messages, [a, b]);
  for (let i = 1; i < a.length; i++) {
    const r = frame([a.slice(0, i), a.slice(i)]);
    t.deepEqual(r.messages, [a], `split at ${i}`);
    t.is(r.buffered, 0);
  }
});

test('framing: Content-Length counts bytes (UTF-8), compact form l:, any case, and a missing one reads as 0', (t) => {
  const note = 'café ☕ 東京';
  const m = msg(note);
  const bytes = Buffer.from(m, 'utf8');
  t.deepEqual(frame([bytes.subarray(0, bytes.length - 3), bytes.subarray(bytes.length - 3)]).messages, [m], 'a multi-byte character split across chunks');
  t.deepEqual(frame([msg('abc', 3, 'l')]).messages, [msg('abc', 3, 'l')]);
  t.deepEqual(frame([msg('abc', 3, 'content-LENGTH')]).messages, [msg('abc', 3, 'content-LENGTH')]);
  const none = 'OPTIONS sip:a@b SIP/2.0\r\nCall-ID: y\r\n\r\n';
  t.deepEqual(frame([none + msg('x')]).messages, [none, msg('x')]);
});

test('framing: CRLF keep-alives between messages; a double CRLF is a ping', (t) => {
  const m = msg('x');
  const r = frame(['\r\n\r\n', m, '\r\n', m, '\r\n\r\n']);
  t.deepEqual(r.messages, [m, m]);
  t.is(r.pings, 2);
  t.is(r.buffered, 0);
});

test('framing: an unreadable Content-Length or an oversized message cannot be framed', (t) => {
  t.throws(() => frame([msg('x', 'abc' as unknown as number)]), { instanceOf: SipFramingError, message: /unreadable Content-Length/ });
  t.throws(() => frame([msg('x', -1)]), { instanceOf: SipFramingError });
  t.throws(() => frame([msg('', 5000)], 1024), { instanceOf: SipFramingError, message: /exceeds 1024/ });
  t.throws(() => frame(['X'.repeat(2048)], 1024), { instanceOf: SipFramingError, message: /no end of headers/ });
});

/** FakeWire records what the transport sends and lets the test play the remote side. */
class FakeWire implements Wire {
  readonly sent: string[] = [];
  closed = false;
  constructor(readonly events: WireEvents) {}
  send(m: string) {
    if (this.closed) throw new Error('closed');
    this.sent.push(m);
  }
  close() {
    this.closed = true;
  }
}

function transport(connect: (e: WireEvents) => Promise<Wire>) {
  const noop = () => undefined;
  const seen: string[] = [];
  const sent: string[] = [];
  const tr = new SipTransport({ error: noop, warn: noop, log: noop, debug: noop } as never, { protocol: 'TCP', server: 'tcp://x:1', connect, onSent: (m) => sent.push(m) });
  tr.onConnect = () => seen.push('onConnect');
  tr.onDisconnect = (e) => seen.push(`onDisconnect(${e ? e.message : ''})`);
  tr.onMessage = (m) => seen.push(`message ${m}`);
  tr.stateChange.addListener((s) => seen.push(s));
  return { tr, seen, sent };
}

test('SipTransport: connect, messages, drop by the peer (onDisconnect with an error), connect again', async (t) => {
  const wires: FakeWire[] = [];
  const { tr, seen, sent } = transport(async (e) => {
    const w = new FakeWire(e);
    wires.push(w);
    return w;
  });
  t.is(tr.state, TransportState.Disconnected);
  await tr.connect();
  t.true(tr.isConnected());
  await tr.send('REGISTER');
  t.deepEqual(wires[0]!.sent, ['REGISTER']);
  t.deepEqual(sent, ['REGISTER']);
  wires[0]!.events.onMessage('SIP/2.0 200 OK');
  wires[0]!.events.onClose(new Error('reset'));
  t.is(tr.state, TransportState.Disconnected);
  await t.throwsAsync(tr.send('X'), { message: /not connected/ });
  wires[0]!.events.onMessage('late');
  await tr.connect();
  t.deepEqual(seen, ['Connecting', 'Connected', 'onConnect', 'message SIP/2.0 200 OK', 'Disconnected', 'onDisconnect(reset)', 'Connecting', 'Connected', 'onConnect']);
});

test('SipTransport: disconnect() asked for gives onDisconnect without an error and closes the wire', async (t) => {
  let wire: FakeWire | undefined;
  const { tr, seen } = transport(async (e) => (wire = new FakeWire(e)));
  await tr.connect();
  await tr.disconnect();
  t.true(wire!.closed);
  wire!.events.onClose(new Error('closed after disconnect'));
  t.deepEqual(seen.slice(-3), ['Disconnecting', 'Disconnected', 'onDisconnect()']);
  await tr.dispose();
});

test('SipTransport: a failed connect rejects and leaves it Disconnected; concurrent connects share one attempt', async (t) => {
  let calls = 0;
  let fail = true;
  const { tr, seen } = transport(async (e) => {
    calls += 1;
    await new Promise((r) => setTimeout(r, 10));
    if (fail) throw new Error('ECONNREFUSED');
    return new FakeWire(e);
  });
  await t.throwsAsync(tr.connect(), { message: 'ECONNREFUSED' });
  t.is(tr.state, TransportState.Disconnected);
  t.false(seen.includes('onDisconnect()'), 'never connected: no onDisconnect');
  fail = false;
  await Promise.all([tr.connect(), tr.connect(), tr.connect()]);
  t.is(calls, 2);
  t.true(tr.isConnected());
});

test('SipTransport: disconnect() while connecting cancels; the late wire is closed', async (t) => {
  let wire: FakeWire | undefined;
  const { tr } = transport(async (e) => {
    await new Promise((r) => setTimeout(r, 20));
    return (wire = new FakeWire(e));
  });
  const pending = tr.connect();
  await tr.disconnect();
  await t.throwsAsync(pending, { message: /cancelled/ });
  t.true(wire!.closed);
  t.is(tr.state, TransportState.Disconnected);
});
