/**
 * The parser built once (sip-grammar.ts) must give exactly what SIP.js's own gives: the same value (or -1) for the
 * same input and start rule, objects of the same classes, on valid and invalid header values alike.
 */
import test from 'ava';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Grammar, NameAddrHeader, URI } from 'sip.js';
import { compileRules } from './peg-bytecode.ts';
import { compile, install, stockParse } from './sip-grammar.ts';

const corpus: Array<[rule: string, input: string]> = [
  ['Request_Response', 'SIP/2.0 200 OK'],
  ['Request_Response', 'SIP/2.0 489 Bad Event'],
  ['Request_Response', 'NOTIFY sip:presencelb@127.0.0.1:40000;transport=ws SIP/2.0'],
  ['Request_Response', 'MESSAGE sip:3f1c1c2e-8a55-4d7c-9d6e-0b6a4f1f2a10@presencelb.test SIP/2.0'],
  ['Request_Response', 'SIP/2.0 OK'],
  ['Request_Response', 'HELLO'],
  ['Via', 'SIP/2.0/WS 127.0.0.1:5060;branch=z9hG4bK1234abcd;rport=1234'],
  ['Via', 'SIP/2.0/WS df7jal23ls0d.invalid;rport=40000;received=127.0.0.1;branch=z9hG4bK7219046'],
  ['Via', 'SIP/2.0/TCP [::1]:5060;branch=z9hG4bKx;ttl=3;maddr=10.0.0.1;foo=bar;lr'],
  ['Via', 'SIP/2.0/UDP host'],
  ['Via', 'SIP/2.0 host'],
  ['From', '<sip:lb-3f1c1c2e-8a55-4d7c-9d6e-0b6a4f1f2a10@presencelb.test>;tag=abc123'],
  ['From', '"Pres LB" <sip:presencelb@presencelb.test;transport=ws>;tag=x-1'],
  ['From', 'sip:u@example.org;tag=1'],
  ['From', '<sip:u@example.org'],
  ['To', '<sip:3f1c1c2e-8a55-4d7c-9d6e-0b6a4f1f2a10@presencelb.test>'],
  ['To', '<sips:u@[2001:db8::1]:5061?subject=x>;tag=t'],
  ['Contact', '<sip:10.0.0.1:5060;transport=ws>;expires=3600, <sip:b@h>;q=0.5'],
  ['Contact', '*'],
  ['Contact', '<sip:lb-x@127.0.0.1:5060;transport=ws;ob>;+sip.instance="<urn:uuid:1>";expires=600'],
  ['Contact', '<>'],
  ['Call_ID', 'a84b4c76e66710@pc33.example.com'],
  ['CSeq', '1 SUBSCRIBE'],
  ['CSeq', '4711 NOTIFY'],
  ['CSeq', 'x NOTIFY'],
  ['Content_Length', '123'],
  ['Content_Length', '-1'],
  ['Content_Type', 'application/pidf+xml'],
  ['Content_Type', 'text/plain; charset=utf-8'],
  ['Content_Type', '/'],
  ['Max_Forwards', '70'],
  ['Event', 'presence'],
  ['Event', 'presence;id=1'],
  ['Subscription_State', 'active;expires=3600'],
  ['Subscription_State', 'terminated;reason=noresource;retry-after=30'],
  ['Subscription_State', 'pending;'],
  ['WWW_Authenticate', 'Digest realm="presencelb.test", nonce="Y2xpZW50", qop="auth", algorithm=MD5'],
  ['Proxy_Authenticate', 'Digest realm="r", nonce="n", stale=true'],
  ['Record_Route', '<sip:127.0.0.1;lr;r2=on>, <sip:10.0.0.1;lr>'],
  ['Name_Addr_Header', '"Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf'],
  ['SIP_URI', 'sip:presencelb@presencelb.test'],
  ['SIP_URI', 'sip:lb-3f1c1c2e@127.0.0.1:5060;transport=ws?h=v'],
  ['SIP_URI', 'http://x'],
  ['absoluteURI', 'wss://presence.example.org:8443/ws'],
  ['uuid', '3f1c1c2e-8a55-4d7c-9d6e-0b6a4f1f2a10'],
  ['uuid', 'not-a-uuid'],
  ['Min_SE', '90'],
  ['Session_Expires', '1800;refresher=uac'],
  ['Require', 'timer, 100rel'],
  ['Supported', 'path, gruu'],
];

install();

/** shape is a value with each object's class named, so equal shapes mean the same classes and the same contents. */
function shape(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(shape);
  const out: Record<string, unknown> = { '@class': (v as object).constructor?.name ?? null };
  for (const k of Object.keys(v).sort()) out[k] = shape((v as Record<string, unknown>)[k]);
  return out;
}

test('install replaces Grammar.parse with the parser built once', (t) => {
  t.deepEqual(install(), { installed: true });
  t.not(Grammar.parse, stockParse);
});

for (const [rule, input] of corpus) {
  test(`${rule}: ${JSON.stringify(input)} parses as SIP.js parses it, the first time and again`, (t) => {
    const want = shape(stockParse(input, rule));
    const first = Grammar.parse(input, rule);
    const again = Grammar.parse(input, rule);
    t.deepEqual(shape(first), want);
    t.deepEqual(shape(again), want, 'a second parse (from the cache, for the rules that have one) is the same');
    if (first !== null && typeof first === 'object') t.not(first, again, 'each caller gets objects of its own');
  });
}

test('a cached value handed out and then changed does not change what the next caller gets', (t) => {
  const contact = '<sip:127.0.0.1:5060;transport=ws>';
  for (let i = 0; i < 2; i++) {
    const a = Grammar.parse(contact, 'Contact') as Array<{ parsed: NameAddrHeader }>;
    a[0]!.parsed.setParam('expires', '1');
    a[0]!.parsed.uri.setParam('transport', 'tcp');
  }
  const b = Grammar.parse(contact, 'Contact') as Array<{ parsed: NameAddrHeader }>;
  t.is(b[0]!.parsed.getParam('expires'), undefined);
  t.is(b[0]!.parsed.uri.getParam('transport'), 'ws');
  t.true(b[0]!.parsed instanceof NameAddrHeader);
  t.true(b[0]!.parsed.uri instanceof URI);
});

test('the corpus has valid and invalid inputs, and results of the classes SIP.js builds', (t) => {
  const results = corpus.map(([rule, input]) => Grammar.parse(input, rule));
  t.true(results.filter((r) => r === -1).length >= 8);
  t.true(results.some((r) => r instanceof NameAddrHeader));
  t.true(results.some((r) => r instanceof URI));
});

test('a parser is reused: parsing the same input twice gives equal but distinct results', (t) => {
  const a = Grammar.parse('<sip:u@example.org>;tag=1', 'From') as NameAddrHeader;
  const b = Grammar.parse('<sip:u@example.org>;tag=2', 'From') as NameAddrHeader;
  t.not(a, b);
  t.is(a.getParam('tag'), '1');
  t.is(b.getParam('tag'), '2');
});

test('the interpreted and the compiled rules agree with each other on the corpus, including where they fail', (t) => {
  const text = fs.readFileSync(createRequire(import.meta.url).resolve('sip.js/lib/grammar/pegjs/dist/grammar.js'), 'utf8');
  const run = (parse: (input: string, options: { startRule: string; data?: unknown }) => unknown) => (input: string, startRule: string) => {
    const options: { startRule: string; data?: unknown } = { startRule };
    try {
      parse(input, options);
      return shape(options.data);
    } catch (e) {
      return { failed: (e as { location?: unknown }).location, expected: (e as { expected?: unknown }).expected };
    }
  };
  const interpreted = run(compile(text, 'interpreted')());
  const compiled = run(compile(text, 'compiled')());
  for (const [rule, input] of corpus) t.deepEqual(compiled(input, rule), interpreted(input, rule), `${rule}: ${input}`);
});

test('compileRules refuses bytecode it cannot compile exactly', (t) => {
  t.throws(() => compileRules([[99]]), { message: /rule 0, instruction 0 \(op 99\): unknown instruction/ });
  // IF whose then-branch pushes a value and whose else-branch does not.
  t.throws(() => compileRules([[2, 13, 1, 0, 2]]), { message: /branches leave the stack/ });
  t.throws(() => compileRules([[6]]), { message: /underflow/ });
  t.notThrows(() => compileRules([[5, 13, 1, 1, 6, 6, 2]]));
});

test('compile refuses a grammar file it does not recognise, naming what is missing', (t) => {
  const file = createRequire(import.meta.url).resolve('sip.js/lib/grammar/pegjs/dist/grammar.js');
  const text = fs.readFileSync(file, 'utf8');
  t.throws(() => compile(text.replace('let peg$currPos = 0;', 'let peg$pos = 0;')), { message: /peg\$currPos = 0/ });
  t.throws(() => compile(text.replace('export const parse = peg$parse;', '')), { message: /export const parse/ });
  t.throws(() => compile('export const parse = () => 1;'), { message: /imports/ });
  t.throws(() => compile(text.replace('function peg$parseRule(index) {', 'function peg$run(index) {')), { message: /peg\$parseRule/ });
});
