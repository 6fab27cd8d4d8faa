/**
 * The direct parsers (sip-fast-headers.ts) against SIP.js's stock grammar: where a direct parser gives a value, it is
 * the grammar's (same classes, same fields, in the same order); where the grammar refuses a value, so does it.
 */
import test from 'ava';
import { Grammar } from 'sip.js';
import { FAST_RULES, parseCallId, parseNameAddr, parseVia } from './sip-fast-headers.ts';

/** shape renders a parsed value with its classes and field order, for an exact comparison. */
function shape(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(shape);
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  return { class: proto?.constructor?.name ?? null, fields: Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, shape(x)]) };
}

const stock = (value: string, rule: string): unknown => Grammar.parse(value, rule);

const COMMON: Record<string, string[]> = {
  From: [
    '<sip:11111111-1111-4111-8111-111111111111@bench.presencelb.test>;tag=abc123',
    '<sip:presencelb@presencelb.local>;tag=4or0oa946j',
    '"presencelb" <sip:presencelb@presencelb.local>;tag=x-1.2',
    '"Bob Smith"<sip:bob@example.com:5070>;tag=x',
    '<sip:lb-11111111-1111-4111-8111-111111111111@127.0.0.1:5060>',
    '<sip:a@b>',
    "<sip:o'neil(x)@h-1.example-2.org:1>;tag=`%!*_+'~",
  ],
  Via: [
    'SIP/2.0/WS 127.0.0.1:8080;branch=z9hG4bK1234.0',
    'SIP/2.0/WSS plb.invalid;branch=z9hG4bK1234',
    'SIP/2.0/TCP 127.0.0.1:5060;received=127.0.0.1;branch=z9hG4bK1;rport=40000',
    'SIP/2.0/WS abc.invalid;branch=z9hG4bK9;received=10.0.0.255',
    'SIP/2.0/UDP 255.255.255.255:65535;rport=5060;branch=z9hG4bK-x',
    'SIP/2.0/TLS h.example.com',
    'SIP/2.0/SCTP 1.2.3.4;branch=a',
  ],
  Call_ID: ['call-1@127.0.0.1', 'ea2b3c', "a.b-c!%*_+`'~()@x(y)"],
};
COMMON.To = COMMON.From!;

/** Values the direct parsers must leave to the grammar (some valid, some not). */
const OTHERS: Record<string, string[]> = {
  From: [
    'sip:bob@example.com;tag=x',
    '<sip:bob@example.com;transport=ws>;tag=x',
    '<sip:bob@example.com>;tag=x;foo',
    '<sip:bob@example.com>;TAG=x',
    '<sip:bob@example.com> ;tag=x',
    '<sips:bob@example.com>',
    '<sip:b%20ob@example.com>',
    '"B\\"ob" <sip:bob@example.com>',
    'Bob <sip:bob@example.com>',
    '<sip:bob@[::1]>',
    '<sip:bob@999.1.1.1>',
    '<sip:bob@01.1.1.1>',
    '<sip:bob@example.123>',
    '<sip:bob@-example.com>',
    '<sip:bob@example.com:123456>',
    '<sip:bob@example.com>;tag=',
    '<sip:@example.com>',
    '',
  ],
  Via: [
    'SIP/2.0/WS plb.invalid;branch=z9hG4bK1;rport',
    'SIP/2.0/WS plb.invalid;branch=z9hG4bK1;branch=z9hG4bK2',
    'SIP/2.0/ws plb.invalid;branch=z9hG4bK1',
    'SIP/2.0/WS [::1]:5060;branch=z9hG4bK1',
    'SIP/2.0/WS plb.invalid ;branch=z9hG4bK1',
    'SIP/2.0/WS plb.invalid;branch=z9hG4bK1, SIP/2.0/WS b.invalid',
    'SIP/2.0/WS plb.invalid;maddr=1.2.3.4',
    'SIP/2.0/WS plb.invalid;received=999.1.1.1',
    'SIP/2.0/WS plb.invalid;rport=',
    'SIP/2.0/WS 999.1.1.1;branch=x',
    'SIP/2.0/WS 1.2.3;branch=x',
    'SIP/2.0/WS plb.invalid;branch=',
    'SIP/2.0/XYZ plb.invalid;branch=x',
    'SIP/3.0/WS plb.invalid',
    '',
  ],
  Call_ID: ['', 'a b', 'a@', '@b', 'a@b c', 'a"b', 'x@y@z'],
};
OTHERS.To = OTHERS.From!;

/** mutations makes variations of value: each character removed, doubled, and replaced by each of a set of characters. */
function mutations(value: string): string[] {
  const out = new Set<string>();
  const chars = [' ', ';', '=', ':', '.', '@', '<', '>', '"', '-', 'a', 'Z', '0', '9', '%', '[', '/', ',', '\t'];
  for (let i = 0; i < value.length; i++) {
    out.add(value.slice(0, i) + value.slice(i + 1));
    out.add(value.slice(0, i) + value[i] + value.slice(i));
    for (const c of chars) out.add(value.slice(0, i) + c + value.slice(i + 1));
  }
  return [...out];
}

for (const rule of ['From', 'To', 'Via', 'Call_ID']) {
  const fast = FAST_RULES.get(rule)!;

  test(`${rule}: the common forms are parsed directly, to the grammar's very value`, (t) => {
    for (const v of COMMON[rule]!) {
      const got = fast(v);
      t.not(got, null, `${JSON.stringify(v)} is parsed directly`);
      t.deepEqual(shape(got), shape(stock(v, rule)), JSON.stringify(v));
    }
  });

  test(`${rule}: other forms are left to the grammar`, (t) => {
    for (const v of OTHERS[rule]!) t.is(fast(v), null, JSON.stringify(v));
  });

  test(`${rule}: on every variation of the common forms, a direct value is the grammar's, and a refused value is refused`, (t) => {
    let direct = 0;
    let total = 0;
    for (const base of COMMON[rule]!) {
      for (const v of mutations(base)) {
        total++;
        const got = fast(v);
        if (got === null) continue;
        direct++;
        const want = stock(v, rule);
        if (want === -1) t.fail(`${JSON.stringify(v)}: the grammar refuses it, the direct parser gave ${JSON.stringify(got)}`);
        else t.deepEqual(shape(got), shape(want), JSON.stringify(v));
      }
    }
    t.true(direct > 0 && direct < total, `${direct} of ${total} variations parsed directly`);
    t.log(`${direct} of ${total} variations parsed directly, each as the grammar does`);
  });
}

test('a value the direct parser gives is the caller’s own (nothing shared between calls)', (t) => {
  const a = parseNameAddr('<sip:bob@example.com>;tag=x')!;
  const b = parseNameAddr('<sip:bob@example.com>;tag=x')!;
  a.setParam('tag', 'changed');
  t.is(b.getParam('tag'), 'x');
  const v = parseVia('SIP/2.0/WS plb.invalid;branch=z9hG4bK1')!;
  v.branch = 'changed';
  t.is(parseVia('SIP/2.0/WS plb.invalid;branch=z9hG4bK1')!.branch, 'z9hG4bK1');
  t.is(parseCallId('x@y'), 'x@y');
});
