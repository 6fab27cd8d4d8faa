/**
 * How presencelb names itself in SIP: the AOR of its per-user registration binding, the user's presentity URI,
 * and the id of the PIDF tuple it owns in each user's presence document. Pure functions, shared by the core
 * (which must recognise its own tuple in merged documents) and the SIP adapter (which writes them).
 */
import type { UserId } from './user-id.ts';

/** OWN_TUPLE_ID is the id of the tuple presencelb publishes in every tracked user's presence document. */
export const OWN_TUPLE_ID = 'presencelb';

/** presentityUri is the user's presence URI: sip:<uuid>@<domain>. */
export function presentityUri(user: UserId, domain: string): string {
  return `sip:${user}@${domain}`;
}

/** bindingAor is presencelb's registration AOR for one tracked user: sip:lb-<uuid>@<domain>. */
export function bindingAor(user: UserId, domain: string): string {
  return `sip:lb-${user}@${domain}`;
}
