/**
 * Direct parsers for the header values SIP.js parses on every message and that never repeat: Via (its branch), From
 * and To (their tags), Call-ID. Even compiled (sip-grammar.ts), SIP.js's grammar spent about 100 µs on these four per
 * received message, 18% of presencelb's CPU under the presence benchmark (ARCHITECTURE.md, "Measurements").
 *
 * Each parser accepts only the common, plain form of its header, checked strictly, and builds the very value the
 * grammar builds for it: the same classes, constructed with the same arguments, with the same fields. Anything else
 * (a display name with escapes, a URI parameter, an IPv6 address, whitespace around ";", another parameter) returns
 * null, and the grammar parses the value as before. sip-fast-headers.test.ts compares the results with the stock
 * grammar's on common forms, on each of their variations, and on generated values.
 *
 * The accepted forms:
 * - From, To: `["Display Name" ]<sip:user@host[:port]>[;tag=token]`
 * - Via: `SIP/2.0/<UDP|TCP|TLS|SCTP|WS|WSS> host[:port]`, then `;branch=token`, `;received=IPv4` and
 *   `;rport=digits`, each at most once, in any order
 * - Call-ID: `word[@word]`
 */
import { NameAddrHeader, URI } from 'sip.js';

const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+";
const WORD = "[A-Za-z0-9\\-.!%*_+`'~()]+";
/** An IPv4 address as the grammar reads one: four decimal octets 0-255, without leading zeros. */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
/** A host name whose last label starts with a letter (the grammar's toplabel); labels do not start or end with "-". */
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const TOPLABEL = '[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DOMAIN = `(?:${LABEL}\\.)*${TOPLABEL}`;
const PORT = '[0-9]{1,5}';
/** The user part: unreserved characters only, so decoding it changes nothing. */
const USER = "[A-Za-z0-9\\-_.!~*'()]+";

const NAME_ADDR = new RegExp(`^(?:"([A-Za-z0-9._-]+(?: [A-Za-z0-9._-]+)*)" ?)?<sip:(${USER})@(${DOMAIN}|${IPV4})(?::(${PORT}))?>(?:;tag=(${TOKEN}))?$`);
const VIA_HEAD = new RegExp(`^SIP/2\\.0/(UDP|TCP|TLS|SCTP|WS|WSS) (?:(${IPV4})|(${DOMAIN}))(?::(${PORT}))?(?=;|$)`);
const VIA_PARAM = new RegExp(`;(?:branch=(${TOKEN})|received=(${IPV4})|rport=([0-9]{1,5}))(?=;|$)`, 'y');
const CALL_ID = new RegExp(`^${WORD}(?:@${WORD})?$`);

/** parseNameAddr parses a From or To value of the accepted form, as the grammar would; null for any other. */
export function parseNameAddr(value: string): NameAddrHeader | null {
  const m = NAME_ADDR.exec(value);
  if (!m) return null;
  const [, displayName, user, host, port, tag] = m;
  const uri = new URI('sip', user!, host!, port === undefined ? undefined : parseInt(port, 10), undefined, undefined);
  const header = new NameAddrHeader(uri, displayName as string, undefined as unknown as { [name: string]: string });
  if (tag) header.setParam('tag', tag);
  return header;
}

/** ViaValue is what the grammar makes of a Via value: fields in the order its actions set them. */
type ViaValue = Record<string, string | number>;

/** parseVia parses a Via value of the accepted form, as the grammar would; null for any other. */
export function parseVia(value: string): ViaValue | null {
  const head = VIA_HEAD.exec(value);
  if (!head) return null;
  const [whole, transport, ipv4, domain, port] = head;
  const via: ViaValue = { protocol: 'SIP', transport: transport!, host_type: ipv4 ? 'IPv4' : 'domain', host: (ipv4 ?? domain)! };
  if (port !== undefined) via.port = parseInt(port, 10);
  const seen = new Set<string>();
  VIA_PARAM.lastIndex = whole.length;
  while (VIA_PARAM.lastIndex < value.length) {
    const p = VIA_PARAM.exec(value);
    if (!p) return null;
    const [, branch, received, rport] = p;
    const name = branch !== undefined ? 'branch' : received !== undefined ? 'received' : 'rport';
    if (seen.has(name)) return null;
    seen.add(name);
    // The grammar's IPv4 rule marks the host type each time it matches, the received address's included.
    if (received !== undefined) via.host_type = 'IPv4';
    via[name] = (branch ?? received ?? rport)!;
  }
  return via;
}

/** parseCallId parses a Call-ID of the accepted form (the grammar's value is the text itself); null for any other. */
export function parseCallId(value: string): string | null {
  return CALL_ID.test(value) ? value : null;
}

/** FAST_RULES maps the grammar's start rules that have a direct parser to it. */
export const FAST_RULES: ReadonlyMap<string, (value: string) => unknown> = new Map<string, (value: string) => unknown>([
  ['From', parseNameAddr],
  ['To', parseNameAddr],
  ['Via', parseVia],
  ['Call_ID', parseCallId],
]);
