/**
 * A faster SIP.js grammar: the same parser, built once instead of on every call.
 *
 * SIP.js parses every header it reads with a peggy parser (`sip.js/lib/grammar/pegjs/dist/grammar.js`). That
 * file is generated in "bytecode" form, and its `peg$parse(input, options)` rebuilds the whole parser on every call:
 * about 1,000 constants and closures, and 230 bytecode arrays decoded from strings. Measured here, one call cost
 * about 230 µs, whatever its input. A received message takes about nine calls (first line, Via, From, To, Call-ID,
 * CSeq, Content-Length, Content-Type, Contact), so about 2 to 3 ms. Under a presence load that was most of presencelb's
 * CPU (ARCHITECTURE.md, "Measurements").
 *
 * install() rewrites that generated file's text once, at start-up:
 * - the constants and bytecode are built once: the per-call state (input, options, positions, the failure record)
 *   becomes variables of an enclosing closure, reset at the start of each call;
 * - the bytecode interpreter is replaced by the same rules compiled to JavaScript (peg-bytecode.ts), instruction
 *   for instruction: about 5 to 10 times faster again (a Via header: 24 µs instead of 210 µs).
 * Nothing else in the file changes: the same rules, actions and results. It then points `Grammar.parse`, which
 * every SIP.js caller goes through, at the rebuilt parser. A call made while another is under way (an action that
 * parses) gets a parser of its own.
 *
 * Header values that repeat from message to message (the first line of a 200, CSeq, Content-Type, the presence
 * server's Contact, Subscription-State…: CACHED_RULES) are parsed once and then copied: each caller still gets
 * objects of its own, of the same classes. Values unique to a message (Via's branch, tags) are parsed every time:
 * in their plain forms by the direct parsers of sip-fast-headers.ts (Via, From, To, Call-ID), otherwise by the grammar.
 *
 * The rewrite checks each piece of text it relies on. If the file is not what it expects (another SIP.js
 * version), install() leaves SIP.js as it is and returns the reason, which the caller logs. sip-grammar.test.ts
 * checks that both parsers give the same results on SIP.js's header rules, valid and invalid inputs alike.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Grammar, NameAddrHeader, URI } from 'sip.js';
import { compileRules } from './peg-bytecode.ts';
import { FAST_RULES } from './sip-fast-headers.ts';

type PegParse = (input: string, options: { startRule?: string; data?: unknown }) => unknown;

/** GrammarInstall says what install() did. */
export type GrammarInstall = { readonly installed: true } | { readonly installed: false; readonly why: string };

const ENTRY = 'function peg$parse(input, options) {\n';
const FIRST = '    options = options !== undefined ? options : {};\n';
const SOURCE = '    const peg$source = options.grammarSource;\n';
const STATE_START = '    let peg$currPos = 0;\n';
const STATE_END = '    function text() {';
const DATA = '    options.data = {}; // Object to which header attributes will be assigned during parsing\n';
const RUN = '    peg$result = peg$parseRule(peg$startRuleIndex);\n';
const EXPORT = '\nexport const parse = peg$parse;';
const DEFAULT_RULE = /^ {4}let peg\$startRuleIndex = (\d+);\n/m;
const BYTECODE_START = '    const peg$bytecode = [\n';
const BYTECODE_END = '\n    ];\n';
const INTERPRETER = '    function peg$parseRule(index) {\n';

let state: GrammarInstall | null = null;
let stock: typeof Grammar.parse | null = null;

/**
 * install makes SIP.js's Grammar.parse use the parser built once (idempotent; the first result is kept). It never
 * throws: a file it does not recognise leaves the stock parser in place.
 */
export function install(): GrammarInstall {
  if (state) return state;
  try {
    const make = compile(fs.readFileSync(grammarFile(), 'utf8'), 'compiled');
    stock = Grammar.parse;
    Grammar.parse = directFirst(cachedParse(reentrantParse(make)));
    state = { installed: true };
  } catch (e) {
    state = { installed: false, why: e instanceof Error ? e.message : String(e) };
  }
  return state;
}

/** stockParse is SIP.js's own Grammar.parse (before install()), for comparison in tests and benchmarks. */
export function stockParse(input: string, startRule: string): unknown {
  return (stock ?? Grammar.parse)(input, startRule);
}

/** grammarFile is the path of SIP.js's generated grammar, the one its Grammar module imports. */
function grammarFile(): string {
  const req = createRequire(import.meta.url);
  return req.resolve('sip.js/lib/grammar/pegjs/dist/grammar.js');
}

/**
 * compile rewrites the generated file into `makeParser(NameAddrHeader, URI)`, whose every call returns a parse
 * function with its constants built once; with `rules: 'compiled'` (the default) the bytecode interpreter is also
 * replaced by the rules compiled to JavaScript (peg-bytecode.ts), with 'interpreted' it is kept. Throws naming the
 * first piece of text that is not where it should be.
 */
export function compile(text: string, rules: 'compiled' | 'interpreted' = 'compiled'): () => PegParse {
  const lines = text.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  if (imports.length !== 2 || !imports.some((l) => l.includes('{ NameAddrHeader }')) || !imports.some((l) => l.includes('{ URI }'))) {
    throw new Error('SIP.js grammar: its imports are not NameAddrHeader and URI');
  }
  let src = lines.filter((l) => !l.startsWith('import ')).join('\n').replace('export class SyntaxError', 'class SyntaxError');
  const entry = must(src, ENTRY);
  const exportAt = must(src, EXPORT);
  const head = src.slice(0, entry);
  let body = src.slice(entry + ENTRY.length, exportAt);
  if (!body.endsWith('\n}')) throw new Error('SIP.js grammar: peg$parse does not end where expected');
  body = body.slice(0, -1);
  body = cut(body, FIRST, '');
  body = cut(body, SOURCE, '    let peg$source;\n');
  const rule = DEFAULT_RULE.exec(body);
  if (!rule) throw new Error('SIP.js grammar: no default start rule');
  const stateAt = must(body, STATE_START);
  const stateEnd = must(body, STATE_END);
  if (stateEnd < stateAt) throw new Error('SIP.js grammar: the per-call state is not where expected');
  const stateText = body.slice(stateAt, stateEnd);
  const dataAt = must(body, DATA);
  const runAt = must(body, RUN);
  if (runAt < dataAt) throw new Error('SIP.js grammar: the run is not after the data reset');
  const declared = [...stateText.matchAll(/^ {4}(?:let|const) (peg\$\w+)/gm)].map((m) => m[1]!);
  if (!declared.includes('peg$currPos') || !declared.includes('peg$maxFailExpected')) throw new Error('SIP.js grammar: the per-call state is not what expected');
  // In the closure: the state declared once, with no value; per call: the same statements, as assignments.
  const resetState = stateText.replace(/^ {4}(?:let|const) (peg\$\w+)/gm, '    $1');
  let helpers = body.slice(stateEnd, dataAt);
  if (rules === 'compiled') {
    const at = must(helpers, INTERPRETER);
    helpers = `${helpers.slice(0, at)}    function peg$parseRule(index) { return peg$rules[index](); }\n${compileRules(bytecodeOf(body))}\n`;
  }
  const factoryBody = [
    '    let input, options;',
    body.slice(0, stateAt),
    `    let ${declared.join(', ')};`,
    helpers,
    body.slice(dataAt + DATA.length, runAt),
    '    return function parse(input_, options_) {',
    '    input = input_;',
    '    options = options_ !== undefined ? options_ : {};',
    '    peg$source = options.grammarSource;',
    `    peg$startRuleIndex = ${rule[1]};`,
    resetState,
    DATA,
    body.slice(runAt),
    '    };',
  ].join('\n');
  const module = `${head}\nreturn function makeParser() {\n${factoryBody}\n};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the text is SIP.js's own file, rewritten above
  const factory = new Function('NameAddrHeader', 'URI', module) as (n: unknown, u: unknown) => () => PegParse;
  return factory(NameAddrHeader, URI);
}

/** bytecodeOf evaluates the grammar's bytecode table (its peg$decode calls on string literals) once. */
function bytecodeOf(body: string): number[][] {
  const start = must(body, BYTECODE_START) + BYTECODE_START.length;
  const end = body.indexOf(BYTECODE_END, start);
  if (end < 0) throw new Error('SIP.js grammar: the end of peg$bytecode not found');
  const decode = (s: string): number[] => s.split('').map((ch) => ch.charCodeAt(0) - 32);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- string literals of SIP.js's own file
  const table = new Function('peg$decode', `return [${body.slice(start, end)}];`)(decode) as unknown;
  if (!Array.isArray(table) || !table.every((r) => Array.isArray(r) && r.every((n) => Number.isInteger(n)))) {
    throw new Error('SIP.js grammar: peg$bytecode is not a table of instruction arrays');
  }
  return table as number[][];
}

/**
 * CACHED_RULES are the start rules whose values repeat across messages; CACHE_SIZE bounds each rule's cache (it is
 * emptied when full: the values that repeat come back at once).
 */
const CACHED_RULES = new Set(['Request_Response', 'CSeq', 'Content_Length', 'Content_Type', 'Contact', 'Max_Forwards', 'Event', 'Subscription_State', 'Record_Route', 'Min_SE', 'Session_Expires']);
const CACHE_SIZE = 1024;

/** directFirst answers the start rules that have a direct parser (sip-fast-headers.ts) with it, when it accepts the value. */
function directFirst(parse: typeof Grammar.parse): typeof Grammar.parse {
  return (input: string, startRule: string) => {
    const direct = FAST_RULES.get(startRule);
    const value = direct ? direct(input) : null;
    return value !== null ? value : parse(input, startRule);
  };
}

/** cachedParse serves CACHED_RULES from a cache of parsed values, handing out a copy of each (see copyValue). */
function cachedParse(parse: typeof Grammar.parse): typeof Grammar.parse {
  const caches = new Map<string, Map<string, unknown>>();
  for (const rule of CACHED_RULES) caches.set(rule, new Map());
  return (input: string, startRule: string) => {
    const cache = caches.get(startRule);
    if (!cache) return parse(input, startRule);
    if (cache.has(input)) return copyValue(cache.get(input));
    const value = parse(input, startRule);
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(input, copyValue(value));
    return value;
  };
}

/**
 * copyValue deep-copies a parsed value: arrays, and objects with their prototype (URI, NameAddrHeader and plain
 * objects alike hold their state in own properties), so a caller that changes its copy changes no other.
 */
export function copyValue<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copyValue) as T;
  const out = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
  for (const k of Object.keys(v)) out[k] = copyValue((v as Record<string, unknown>)[k]);
  return out as T;
}

/** reentrantParse is Grammar.parse over parsers from make: one kept for calls in sequence, a fresh one inside a call. */
function reentrantParse(make: () => PegParse): typeof Grammar.parse {
  const shared = make();
  let busy = false;
  return (input: string, startRule: string) => {
    const options: { startRule: string; data?: unknown } = { startRule };
    const parser = busy ? make() : shared;
    const outer = !busy;
    busy = true;
    try {
      parser(input, options);
    } catch {
      options.data = -1;
    } finally {
      if (outer) busy = false;
    }
    return options.data;
  };
}

function must(text: string, piece: string): number {
  const at = text.indexOf(piece);
  if (at < 0) throw new Error(`SIP.js grammar: ${JSON.stringify(piece.trim().slice(0, 60))} not found`);
  return at;
}

function cut(text: string, piece: string, instead: string): string {
  const at = must(text, piece);
  return text.slice(0, at) + instead + text.slice(at + piece.length);
}
