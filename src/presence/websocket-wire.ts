/**
 * The Wire for ws:// and wss:// presence servers (RFC 7118): one `ws` WebSocket with sub-protocol "sip", one SIP
 * message per WebSocket message. Using `ws` directly (rather than SIP.js's browser transport and a global
 * WebSocket) lets wss:// trust a configured CA file. Server pings are answered by `ws`; CRLF keep-alive
 * messages are dropped. Received messages reach SIP.js in slices (paced-inbox.ts); messages sent in one turn of
 * the event loop leave in one socket write (corkForTurn).
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { PacedInbox } from './paced-inbox.ts';
import type { PresenceEndpoint } from './presence-url.ts';
import { corkForTurn, type Wire, type WireConnector } from './sip-transport.ts';

/** WebSocketWireOptions tune one WebSocket connection. */
export interface WebSocketWireOptions {
  readonly connectTimeoutMs: number;
  /** ca replaces Node's bundled CA certificates for wss:// (PEM). */
  readonly ca?: string | Buffer;
}

const CLOSE_GRACE_MS = 1000;

/** webSocketConnector opens ws:// and wss:// endpoints. */
export function webSocketConnector(ep: PresenceEndpoint, o: WebSocketWireOptions): WireConnector {
  return (events) =>
    new Promise<Wire>((resolve, reject) => {
      const ws = new WebSocket(ep.url, 'sip', { handshakeTimeout: o.connectTimeoutMs, perMessageDeflate: false, ...(o.ca ? { ca: o.ca } : {}) });
      let open = false;
      let closing = false;
      let lastError: Error | null = null;
      ws.on('error', (e) => {
        lastError = e;
        if (!open) reject(e);
      });
      const inbox = new PacedInbox((m) => events.onMessage(m), ws);
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : String(data);
        if (/^(\r\n)*$/.test(text)) return;
        inbox.push(text);
      });
      ws.on('close', (code, reason) => {
        if (!open) return reject(lastError ?? new Error(`WebSocket ${ep.url} closed before it opened (code ${code})`));
        inbox.flush();
        if (!closing) events.onClose(lastError ?? new Error(`WebSocket closed by ${ep.url} (code ${code}${reason.length ? `, ${reason.toString()}` : ''})`));
      });
      ws.once('open', () => {
        open = true;
        if (ws.protocol !== 'sip') {
          closing = true;
          ws.terminate();
          return reject(new Error(`${ep.url} did not accept the WebSocket sub-protocol "sip"`));
        }
        resolve({
          send(message) {
            if (ws.readyState !== WebSocket.OPEN) throw new Error(`WebSocket ${ep.url} is closed`);
            // ws keeps its socket as _socket (ws 8); without it, each message is written on its own.
            const socket = (ws as unknown as { _socket?: Socket })._socket;
            if (socket) corkForTurn(socket);
            ws.send(message);
          },
          close() {
            if (closing) return;
            closing = true;
            ws.close(1000);
            setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
          },
        });
      });
    });
}
