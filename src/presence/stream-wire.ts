/**
 * The Wire for tcp:// and tls:// presence servers: one node:net or node:tls socket, framed by SipStreamFramer.
 * TCP keep-alive probes notice a peer that vanished without closing; CRLF pings from the server are answered
 * (RFC 5626 section 3.5.1). For tls:// the server certificate is verified against the given CAs (Node's bundled
 * ones by default) and the URL's host, so an IP address in the URL must be in the certificate's subjectAltName.
 * Received messages reach SIP.js in slices (paced-inbox.ts); messages sent in one turn of the event loop leave in
 * one socket write (corkForTurn).
 */
import net from 'node:net';
import tls from 'node:tls';
import { PacedInbox } from './paced-inbox.ts';
import type { PresenceEndpoint } from './presence-url.ts';
import { SipFramingError, SipStreamFramer } from './sip-framing.ts';
import { corkForTurn, type Wire, type WireConnector } from './sip-transport.ts';

/** StreamWireOptions tune one stream connection. */
export interface StreamWireOptions {
  readonly connectTimeoutMs: number;
  /** ca replaces Node's bundled CA certificates for tls:// (PEM). */
  readonly ca?: string | Buffer;
}

const KEEPALIVE_MS = 15000;
/** CLOSE_GRACE_MS is how long close() lets queued bytes drain before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** streamConnector opens tcp:// and tls:// endpoints. */
export function streamConnector(ep: PresenceEndpoint, o: StreamWireOptions): WireConnector {
  return (events) =>
    new Promise<Wire>((resolve, reject) => {
      const socket: net.Socket =
        ep.scheme === 'tls'
          ? tls.connect({ host: ep.host, port: ep.port, ca: o.ca, servername: net.isIP(ep.host) ? undefined : ep.host })
          : net.connect({ host: ep.host, port: ep.port });
      const readyEvent = ep.scheme === 'tls' ? 'secureConnect' : 'connect';
      let open = false;
      let closing = false;
      let lastError: Error | null = null;
      const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
      const inbox = new PacedInbox((m) => events.onMessage(m), socket);
      const framer = new SipStreamFramer(
        (m) => inbox.push(m),
        () => socket.write('\r\n'),
      );
      socket.on('error', (e) => {
        lastError = e;
        if (!open) {
          clearTimeout(timer);
          reject(e);
        }
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          framer.push(chunk);
        } catch (e) {
          if (!(e instanceof SipFramingError)) throw e;
          socket.destroy(e);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (!open) return reject(lastError ?? new Error(`connection to ${ep.url} closed before it was established`));
        inbox.flush();
        if (!closing) events.onClose(lastError ?? new Error(`connection closed by ${ep.url}`));
      });
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        open = true;
        socket.setNoDelay(true);
        socket.setKeepAlive(true, KEEPALIVE_MS);
        resolve({
          send(message) {
            if (socket.destroyed || !socket.writable) throw new Error(`connection to ${ep.url} is closed`);
            corkForTurn(socket);
            socket.write(message, 'utf8');
          },
          close() {
            if (closing) return;
            closing = true;
            socket.end();
            setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
          },
        });
      });
    });
}
