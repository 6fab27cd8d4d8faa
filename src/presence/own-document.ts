/**
 * The PIDF document presencelb publishes into a tracked user's presence: one tuple, id OWN_TUPLE_ID, basic open,
 * whose note names the application server whose resources the user is requesting, and whose contact is
 * presencelb's registration binding for the user. Pure.
 */
import type { AppServer } from '../core/ports.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../core/presence.ts';
import type { UserId } from '../core/user-id.ts';
import { buildPidf } from './pidf.ts';

/** ownNote is the human-readable note of presencelb's tuple. */
export function ownNote(appServer: AppServer | null): string {
  return appServer
    ? `presencelb: requesting resources of application server ${appServer.name} (${appServer.host}:${appServer.port})`
    : 'presencelb: requesting resources of an application server';
}

/** ownPresenceDocument renders presencelb's publication for user, stamped with now (ms since the epoch). */
export function ownPresenceDocument(user: UserId, domain: string, appServer: AppServer | null, now: number): string {
  return buildPidf({
    entity: presentityUri(user, domain),
    tuples: [{ id: OWN_TUPLE_ID, basic: 'open', note: ownNote(appServer), contact: bindingAor(user, domain), timestamp: now }],
  });
}
