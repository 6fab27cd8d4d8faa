/** The replaced SIP.js header accessors (sip-header-names.ts) against SIP.js's own, on the same messages. */
import test from 'ava';
import { Grammar, URI } from 'sip.js';
import { IncomingMessage, OutgoingRequestMessage, Parser } from 'sip.js/lib/core/index.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';
import { CACHE_MAX, canonicalName, install } from './sip-header-names.ts';

type Methods = Record<string, (...a: unknown[]) => unknown>;
const ACCESSORS = ['addHeader', 'getHeader', 'getHeaders', 'hasHeader', 'parseHeader', 'setHeader'];
const OUT_ACCESSORS = ['getHeader', 'getHeaders', 'hasHeader', 'setHeader'];
const copy = (proto: object, names: string[]): Methods => Object.fromEntries(names.map((n) => [n, (proto as Methods)[n]!]));
// SIP.js's own accessors, taken before install() replaces them.
const stockIn = copy(IncomingMessage.prototype, ACCESSORS);
const stockOut = copy(OutgoingRequestMessage.prototype, OUT_ACCESSORS);
install();
const ourIn = copy(IncomingMessage.prototype, ACCESSORS);
const ourOut = copy(OutgoingRequestMessage.prototype, OUT_ACCESSORS);

const NAMES = ['via', 'Via', 'VIA', 'from', 'To', 'call-id', 'call_id', 'Call-ID', 'CALL_ID', 'cseq', 'CSeq', 'content-length', 'Content-Type', 'event',
  'subscription-state', 'Subscription_State', 'www-authenticate', 'min-se', 'rack', 'rseq', 'x-presencelb-reconnect', 'X-Unknown-Thing', 'contact', 'expires', 'date',
  'max-forwards', 'no-such-header', ''];

const NOTIFY = [
  'NOTIFY sip:plb@127.0.0.1:5070;transport=ws SIP/2.0',
  'Via: SIP/2.0/WS 127.0.0.1:8080;branch=z9hG4bK1234.0',
  'Via: SIP/2.0/WS 127.0.0.2:8080;branch=z9hG4bK9999.1',
  'From: <sip:11111111-1111-4111-8111-111111111111@presencelb.local>;tag=abc',
  'To: <sip:presencelb@presencelb.local>;tag=def',
  'Call-ID: call-1@127.0.0.1',
  'CSeq: 7 NOTIFY',
  'Max-Forwards: 70',
  'Event: presence',
  'Subscription-State: active;expires=3600',
  'Contact: <sip:127.0.0.1:8080;transport=ws>',
  'Date: Thu, 26 Nov 2026 04:00:00 GMT',
  'X-Unknown-Thing: one',
  'X-Unknown-Thing: two',
  'Expires: not a number',
  'Content-Type: application/pidf+xml',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const parse = (text: string): IncomingMessage => {
  const m = Parser.parseMessage(text, { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never);
  if (!m) throw new Error('did not parse');
  return m;
};
/** snapshot renders what a message holds: each header's raw values and whether a parse is kept. */
const snapshot = (m: { headers: Record<string, unknown[]> }) => JSON.stringify(m.headers);

test('canonicalName is SIP.js’s headerize, remembered', (t) => {
  for (const n of NAMES) t.is(canonicalName(n), headerize(n), n);
  t.is(canonicalName('call_id'), 'Call-ID');
  t.is(canonicalName('www-authenticate'), 'WWW-Authenticate');
});

test('past CACHE_MAX names (from the network), names are still right, computed each time', (t) => {
  for (let i = 0; i < CACHE_MAX + 50; i++) t.is(canonicalName(`x-h${i}-v`), headerize(`x-h${i}-v`));
  t.is(canonicalName('X-H3-V'), 'X-H3-V');
});

test('received messages: every accessor answers as SIP.js’s and leaves the message as SIP.js’s does', (t) => {
  for (const name of NAMES) {
    for (const [method, args] of [
      ['getHeader', [name]],
      ['getHeaders', [name]],
      ['hasHeader', [name]],
      ['parseHeader', [name]],
      ['parseHeader', [name, 1]],
      ['parseHeader', [name, 5]],
      ['addHeader', [name, 'added value']],
      ['setHeader', [name, 'set value']],
    ] as const) {
      const a = parse(NOTIFY);
      const b = parse(NOTIFY);
      const want = stockIn[method]!.call(a, ...args);
      const got = ourIn[method]!.call(b, ...args);
      t.deepEqual(got, want, `${method}(${args.join(', ')})`);
      t.is(snapshot(b as never), snapshot(a as never), `${method}(${args.join(', ')}) leaves the same headers`);
      if (method === 'parseHeader' || method === 'addHeader' || method === 'setHeader') {
        // A second read after the change answers the same too (a parse is kept; a bad header was dropped).
        t.deepEqual(ourIn.getHeaders!.call(b, name), stockIn.getHeaders!.call(a, name), `${method}(${args.join(', ')}) then getHeaders`);
        t.deepEqual(ourIn.parseHeader!.call(b, name), stockIn.parseHeader!.call(a, name), `${method}(${args.join(', ')}) then parseHeader`);
      }
    }
  }
});

test('a header that does not parse is dropped and reads as undefined, as in SIP.js', (t) => {
  const m = parse(NOTIFY);
  t.is(m.parseHeader('expires'), undefined);
  t.deepEqual(m.getHeaders('expires'), [], 'dropped from the list (SIP.js leaves the empty list, so hasHeader stays true)');
  t.is(m.parseHeader('cseq').value, 7);
  t.is(m.parseHeader('CSEQ'), m.parseHeader('cseq'), 'the parse is kept');
  t.true(typeof Grammar.parse === 'function');
});

test('requests built: every accessor answers as SIP.js’s, including names only among the extra headers', (t) => {
  const build = () =>
    new OutgoingRequestMessage(
      'SUBSCRIBE',
      new URI('sip', '11111111-1111-4111-8111-111111111111', 'presencelb.local'),
      new URI('sip', 'presencelb', 'presencelb.local'),
      new URI('sip', '11111111-1111-4111-8111-111111111111', 'presencelb.local'),
      { callId: 'c1', cseq: 3, viaHost: 'plb.invalid', fromTag: 'ft1' },
      ['Event: presence', 'Expires: 600', 'X-Unknown-Thing: extra'],
    );
  for (const name of [...NAMES, 'Event', 'EXPIRES']) {
    for (const [method, args] of [
      ['getHeader', [name]],
      ['getHeaders', [name]],
      ['hasHeader', [name]],
      ['setHeader', [name, 'set value']],
      ['setHeader', [name, ['a', 'b']]],
    ] as const) {
      const a = build();
      const b = build();
      t.deepEqual(ourOut[method]!.call(b, ...args), stockOut[method]!.call(a, ...args), `${method}(${args.join(', ')})`);
      t.deepEqual(b.headers, a.headers, `${method}(${args.join(', ')}) leaves the same headers`);
    }
  }
  const a = build();
  a.setHeader('via', 'SIP/2.0/WS plb.invalid;branch=z9hG4bK1');
  t.is(a.getHeader('VIA'), 'SIP/2.0/WS plb.invalid;branch=z9hG4bK1');
  t.true(a.toString().includes('Via: SIP/2.0/WS plb.invalid;branch=z9hG4bK1\r\n'));
});
