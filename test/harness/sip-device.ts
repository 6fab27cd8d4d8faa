/**
 * SipDevice plays a user's own device in integration tests: a separate SIP.js user agent registered as
 * sip:<uuid>@<domain> on the presence server, which publishes its own PIDF tuple for that presentity and records
 * every MESSAGE it receives (answering them with a configurable status). It deliberately shares no code with
 * src/presence, so the adapter is checked against an independent peer.
 */
import { Core, Registerer, UserAgent, type Message, type URI } from 'sip.js';
import { WebSocket as NodeWebSocket } from 'ws';
import { waitFor } from './ports.ts';

/** ReceivedMessage is one MESSAGE request the device received. */
export interface ReceivedMessage {
  /** headers maps lower-case header names to their raw values in order. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly contentType: string | null;
  readonly body: string;
  readonly from: string;
  readonly requestUri: string;
}

/** SipDeviceOptions configure one device. */
export interface SipDeviceOptions {
  readonly wsUrl: string;
  readonly domain: string;
  /** user is the user's UUID: the device registers and publishes as sip:<user>@<domain>. */
  readonly user: string;
  /** tupleId is the id of the device's tuple (default 'device'). */
  readonly tupleId?: string;
  /** messageStatus is how the device answers MESSAGE requests (default 200). */
  readonly messageStatus?: number;
  readonly expiresSec?: number;
  /** register: false starts the device without registering (default true). */
  readonly register?: boolean;
}

/** SipDevice is a started device. */
export interface SipDevice {
  readonly aor: string;
  readonly messages: readonly ReceivedMessage[];
  /** publish publishes (or modifies) the device's tuple; resolves with the status code, rejects unless 2xx. */
  publish(basic: 'open' | 'closed', note?: string): Promise<number>;
  /** refreshPublication sends a body-less refresh (SIP-If-Match, no body: RFC 3903 section 4.3); rejects unless 2xx. */
  refreshPublication(): Promise<number>;
  /** waitForMessage resolves with the first received MESSAGE matching pred (default: any). */
  waitForMessage(pred?: (m: ReceivedMessage) => boolean, timeoutMs?: number): Promise<ReceivedMessage>;
  /** stop unpublishes, unregisters and disconnects. */
  stop(): Promise<void>;
}

/** startSipDevice connects, registers (unless told not to) and resolves once the REGISTER got its 2xx. */
export async function startSipDevice(o: SipDeviceOptions): Promise<SipDevice> {
  (globalThis as { WebSocket?: unknown }).WebSocket ??= NodeWebSocket;
  const aor = `sip:${o.user}@${o.domain}`;
  const uri = UserAgent.makeURI(aor) as URI;
  const expires = o.expiresSec ?? 600;
  const messages: ReceivedMessage[] = [];
  const ua = new UserAgent({
    uri,
    transportOptions: { server: o.wsUrl },
    reconnectionAttempts: 0,
    logLevel: 'error',
    logConfiguration: false,
    delegate: {
      onMessage: (m: Message) => {
        messages.push(describe(m.request));
        const status = o.messageStatus ?? 200;
        void (status >= 200 && status < 300 ? m.accept({ statusCode: status }) : m.reject({ statusCode: status }));
      },
    },
  });
  await ua.start();
  const registerer = new Registerer(ua, { expires, logConfiguration: false });
  const registerOnce = (unregister: boolean) =>
    new Promise<void>((resolve, reject) => {
      const requestDelegate = {
        onAccept: () => resolve(),
        onReject: (r: Core.IncomingResponse) => reject(new Error(`device REGISTER: ${r.message.statusCode}`)),
      };
      (unregister ? registerer.unregister({ requestDelegate }) : registerer.register({ requestDelegate })).catch(reject);
    });
  if (o.register !== false) await registerOnce(false);

  let etag: string | null = null;
  const sendPublish = (headers: string[], content?: string) =>
    new Promise<Core.IncomingResponseMessage>((resolve) => {
      const core = ua.userAgentCore;
      const body = content === undefined ? undefined : { contentDisposition: 'render', contentType: 'application/pidf+xml', content };
      const req = core.makeOutgoingRequestMessage('PUBLISH', uri, uri, uri, {}, ['Event: presence', ...headers], body);
      core.publish(req, { onAccept: (r) => resolve(r.message), onReject: (r) => resolve(r.message) });
    });

  return {
    aor,
    messages,
    async publish(basic, note) {
      const tupleId = o.tupleId ?? 'device';
      const doc =
        `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${aor}">` +
        `<tuple id="${tupleId}"><status><basic>${basic}</basic></status>${note ? `<note>${escapeXml(note)}</note>` : ''}</tuple></presence>`;
      const r = await sendPublish([`Expires: ${expires}`, ...(etag ? [`SIP-If-Match: ${etag}`] : [])], doc);
      const code = r.statusCode ?? 0;
      if (code < 200 || code >= 300) throw new Error(`device PUBLISH: ${code} ${r.reasonPhrase}`);
      etag = r.getHeader('sip-etag') ?? null;
      return code;
    },
    async refreshPublication() {
      if (!etag) throw new Error('device: nothing published to refresh');
      const r = await sendPublish([`Expires: ${expires}`, `SIP-If-Match: ${etag}`]);
      const code = r.statusCode ?? 0;
      if (code < 200 || code >= 300) throw new Error(`device PUBLISH refresh: ${code} ${r.reasonPhrase}`);
      etag = r.getHeader('sip-etag') ?? null;
      return code;
    },
    waitForMessage(pred = () => true, timeoutMs = 5000) {
      return waitFor('a MESSAGE at the device', () => messages.find(pred), timeoutMs, 20);
    },
    async stop() {
      if (etag) await sendPublish(['Expires: 0', `SIP-If-Match: ${etag}`]).catch(() => undefined);
      etag = null;
      if (o.register !== false) await registerOnce(true).catch(() => undefined);
      await ua.stop();
    },
  };
}

function describe(req: Core.IncomingRequestMessage): ReceivedMessage {
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(req.headers)) headers[name.toLowerCase()] = values.map((v) => v.raw);
  return {
    headers,
    contentType: req.getHeader('content-type') ?? null,
    body: req.body,
    from: req.from.uri.toString(),
    requestUri: req.ruri?.toString() ?? '',
  };
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
