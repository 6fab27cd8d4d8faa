/**
 * The presence-server adapter: SipPresenceClient implements the core's PresenceClient port over SIP.js and one
 * connection to a presence server (Kamailio, kamailio/kamailio.cfg) over WebSocket, TCP or TLS, as the URL's scheme
 * says. The rest are its pure helpers, exported for tests and for tools that read or write the same SIP artefacts.
 */
export { SipPresenceClient, type HeldState } from './sip-presence-client.ts';
export {
  resolveSipPresenceClientOptions,
  requireSipPresenceClientOptions,
  type SipPresenceClientOptions,
  type ResolvedSipPresenceClientOptions,
} from './sip-presence-client-options.ts';
export { buildPidf, parsePidf, PIDF_NS, PIDF_CONTENT_TYPE, type PidfDocumentSpec, type PidfTupleSpec } from './pidf.ts';
export { ownNote, ownPresenceDocument } from './own-document.ts';
export { parseSipDate, parseSubscriptionState } from './sip-headers.ts';
export { refusedNotify, toPresenceNotification, type NotifyMessage, type RefusedNotify } from './notification.ts';
export { reconnectBody, reconnectHeader, RECONNECT_HEADER, RECONNECT_CONTENT_TYPE, type ReconnectBody } from './reconnect-message.ts';
export { sipStatusOf, type SipStatus } from './sip-outcome.ts';
export { parsePresenceUrl, PRESENCE_URL_PATTERN, type PresenceEndpoint, type PresenceScheme } from './presence-url.ts';
export { terminationAction, type TerminationAction } from './termination.ts';
export { refreshDelayMs } from './refresh-policy.ts';
