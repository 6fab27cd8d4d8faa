/**
 * The presence-server adapter: SipPresenceClient implements the core's PresenceClient port over SIP.js and a
 * SIP-over-WebSocket presence server (Kamailio, kamailio/kamailio.cfg). The rest are its pure helpers, exported
 * for tests and for tools that read or write the same SIP artefacts.
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
export { toPresenceNotification, type NotifyMessage } from './notification.ts';
export { reconnectBody, reconnectHeader, RECONNECT_HEADER, RECONNECT_CONTENT_TYPE, type ReconnectBody } from './reconnect-message.ts';
export { sipStatusOf, type SipStatus } from './sip-outcome.ts';
