/**
 * Faster SIP.js header accessors: the same lookups, without recomputing a header's canonical name on every call.
 *
 * SIP.js keeps a message's headers by canonical name ("call_id" and "CALL-ID" are both "Call-ID"), and each
 * accessor (addHeader, getHeader, getHeaders, hasHeader, parseHeader, setHeader) computes that name on every call
 * with `headerize`: lower-case, split on "-", capitalise each part, then a table of exceptions. A received message
 * goes through 20 to 40 such calls (the parser adds each header, the sanity checks and the transaction layer read
 * them), and each built request a dozen. Under the presence benchmark (10,000 users, 500 changes/s) headerize alone
 * was 7.4% of presencelb's CPU (ARCHITECTURE.md, "Measurements").
 *
 * install() replaces those accessors on IncomingMessage (and so on received requests and responses) and
 * OutgoingRequestMessage with ones that look the canonical name up in a table filled on first use. The names come
 * from SIP.js's code and from received messages, so the table is bounded (CACHE_MAX); past that, names are computed
 * as before. The canonical name is SIP.js's own headerize, and every replaced accessor does what SIP.js's does: for
 * an outgoing request's name not among its headers, SIP.js's own accessor answers (it also searches the extra
 * headers). sip-header-names.test.ts compares both on the same messages.
 */
import { Grammar } from 'sip.js';
import { IncomingMessage, OutgoingRequestMessage } from 'sip.js/lib/core/index.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';

/** CACHE_MAX bounds the canonical names remembered (SIP.js's own are about 40; the rest come from the network). */
export const CACHE_MAX = 1024;

/** remembered wraps a function of a header name with a table of its answers, bounded by CACHE_MAX. */
function remembered(fn: (name: string) => string): (name: string) => string {
  const table = new Map<string, string>();
  return (name) => {
    let v = table.get(name);
    if (v === undefined) {
      v = fn(name);
      if (table.size < CACHE_MAX) table.set(name, v);
    }
    return v;
  };
}

/** canonicalName is SIP.js's headerize(name), remembered. */
export const canonicalName = remembered(headerize);
/** ruleOf is the grammar rule SIP.js parses a canonical name with ("Call-ID" → "Call_ID"), remembered. */
const ruleOf = remembered((name) => name.replace(/-/g, '_'));

/** A header as IncomingMessage keeps it: the raw value, and its parse once asked for. */
interface Kept {
  raw: string;
  parsed?: unknown;
}
type IncomingHeaders = Record<string, Kept[] | undefined>;
type OutgoingHeaders = Record<string, unknown[] | undefined>;

let installed = false;

/** install replaces the header accessors (idempotent). */
export function install(): void {
  if (installed) return;
  installed = true;
  const inc = IncomingMessage.prototype as unknown as Record<string, unknown>;
  inc.addHeader = function addHeader(this: { headers: IncomingHeaders }, name: string, value: string): void {
    const key = canonicalName(name);
    const list = this.headers[key];
    if (list) list.push({ raw: value });
    else this.headers[key] = [{ raw: value }];
  };
  inc.getHeader = function getHeader(this: { headers: IncomingHeaders }, name: string): string | undefined {
    return this.headers[canonicalName(name)]?.[0]?.raw;
  };
  inc.getHeaders = function getHeaders(this: { headers: IncomingHeaders }, name: string): string[] {
    return (this.headers[canonicalName(name)] ?? []).map((h) => h.raw);
  };
  inc.hasHeader = function hasHeader(this: { headers: IncomingHeaders }, name: string): boolean {
    return !!this.headers[canonicalName(name)];
  };
  inc.setHeader = function setHeader(this: { headers: IncomingHeaders }, name: string, value: string): void {
    this.headers[canonicalName(name)] = [{ raw: value }];
  };
  // A header that does not parse is dropped from the message, and the caller gets undefined (as in SIP.js).
  inc.parseHeader = function parseHeader(this: { headers: IncomingHeaders }, name: string, idx = 0): unknown {
    const key = canonicalName(name);
    const list = this.headers[key];
    if (!list || idx >= list.length) return undefined;
    const header = list[idx]!;
    if (header.parsed) return header.parsed;
    const parsed: unknown = Grammar.parse(header.raw, ruleOf(key));
    if (parsed === -1) {
      list.splice(idx, 1);
      return undefined;
    }
    header.parsed = parsed;
    return parsed;
  };

  const out = OutgoingRequestMessage.prototype as unknown as Record<string, (this: { headers: OutgoingHeaders }, ...a: unknown[]) => unknown>;
  const stock = { getHeader: out.getHeader!, getHeaders: out.getHeaders!, hasHeader: out.hasHeader! };
  out.getHeader = function getHeader(this: { headers: OutgoingHeaders }, name: unknown): unknown {
    const list = this.headers[canonicalName(name as string)];
    if (!list) return stock.getHeader.call(this, name);
    return list[0] ? list[0] : undefined;
  };
  out.getHeaders = function getHeaders(this: { headers: OutgoingHeaders }, name: unknown): unknown {
    const list = this.headers[canonicalName(name as string)];
    return list ? [...list] : stock.getHeaders.call(this, name);
  };
  out.hasHeader = function hasHeader(this: { headers: OutgoingHeaders }, name: unknown): unknown {
    return this.headers[canonicalName(name as string)] ? true : stock.hasHeader.call(this, name);
  };
  out.setHeader = function setHeader(this: { headers: OutgoingHeaders }, name: unknown, value: unknown): void {
    this.headers[canonicalName(name as string)] = value instanceof Array ? value : [value];
  };
}
