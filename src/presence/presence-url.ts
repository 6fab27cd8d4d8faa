/**
 * The presence server's endpoint as presencelb's configuration names it, one URL whose scheme picks the transport:
 *   ws://host[:port][/path]   SIP over WebSocket (RFC 7118)
 *   wss://host[:port][/path]  SIP over secure WebSocket
 *   tcp://host[:port]         SIP over TCP (RFC 3261 section 18), Content-Length framing
 *   tls://host[:port]         SIP over TLS
 * Pure; the transports (sip-transport.ts and its wires) only read the parsed PresenceEndpoint.
 */
import { isIP } from 'node:net';
import { fail, ok, type Result } from '../core/result.ts';

/** PresenceScheme is one of the supported URL schemes. */
export type PresenceScheme = 'ws' | 'wss' | 'tcp' | 'tls';

/** PresenceEndpoint is a parsed presence server URL. */
export interface PresenceEndpoint {
  /** url is the URL as configured (ws and wss connect to exactly this URL). */
  readonly url: string;
  readonly scheme: PresenceScheme;
  /** host is the host name or address to connect to, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  /** viaProtocol is the sent-protocol transport of presencelb's Via headers (RFC 3261 section 20.42, RFC 7118 section 5). */
  readonly viaProtocol: 'WS' | 'WSS' | 'TCP' | 'TLS';
  /** secure says whether the connection runs over TLS (wss, tls). */
  readonly secure: boolean;
}

/** PRESENCE_URL_PATTERN is the shape parsePresenceUrl accepts, for config schemas that check it first. */
export const PRESENCE_URL_PATTERN = /^(wss?|tcp|tls):\/\/[^\s/]+(\/\S*)?$/;

const DEFAULT_PORTS: Record<PresenceScheme, number> = { ws: 80, wss: 443, tcp: 5060, tls: 5061 };

/** parsePresenceUrl validates a presence server URL; errors carry code CONFIG_INVALID and path 'url'. */
export function parsePresenceUrl(url: string): Result<PresenceEndpoint> {
  const bad = (message: string) => fail({ code: 'CONFIG_INVALID', path: 'url', message });
  if (typeof url !== 'string' || !PRESENCE_URL_PATTERN.test(url)) {
    return bad('must be a ws://, wss://, tcp:// or tls:// URL with a host');
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return bad(`not a URL: ${url}`);
  }
  const scheme = u.protocol.slice(0, -1) as PresenceScheme;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return bad('has no host');
  if ((scheme === 'tcp' || scheme === 'tls') && (u.pathname.replace(/^\/$/, '') !== '' || u.search !== '')) {
    return bad(`${scheme}:// takes host and port only, no path or query`);
  }
  if (u.username || u.password) return bad('must not carry credentials (use presence.auth)');
  const port = u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return bad('port must be 1-65535');
  if (host.includes(':') && isIP(host) !== 6) return bad(`not a host: ${host}`);
  return ok({
    url,
    scheme,
    host,
    port,
    viaProtocol: scheme.toUpperCase() as PresenceEndpoint['viaProtocol'],
    secure: scheme === 'wss' || scheme === 'tls',
  });
}
