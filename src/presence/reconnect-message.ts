/**
 * The "reconnect" MESSAGE presencelb sends to a user's device (claim 1: a message carrying the user's UUID as a
 * parameter). The UUID travels twice, so a device can use either: as a header parameter
 *   X-PresenceLB-Reconnect: uuid=<uuid>;server=<app server name>
 * and in a JSON body {"action":"reconnect","uuid":"<uuid>","applicationServer":"<name>"}.
 */
import type { AppServer } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';

/** RECONNECT_HEADER is the name of the header carrying the UUID as a parameter. */
export const RECONNECT_HEADER = 'X-PresenceLB-Reconnect';

/** RECONNECT_CONTENT_TYPE is the MIME type of the MESSAGE body. */
export const RECONNECT_CONTENT_TYPE = 'application/json';

/** ReconnectBody is the JSON body of a reconnect MESSAGE. */
export interface ReconnectBody {
  readonly action: 'reconnect';
  readonly uuid: string;
  readonly applicationServer: string;
}

/** reconnectHeader renders the header line; a server name that is not a SIP token is sent as a quoted-string. */
export function reconnectHeader(user: UserId, appServer: AppServer): string {
  return `${RECONNECT_HEADER}: uuid=${user};server=${paramValue(appServer.name)}`;
}

/** reconnectBody renders the JSON body. */
export function reconnectBody(user: UserId, appServer: AppServer): string {
  const body: ReconnectBody = { action: 'reconnect', uuid: user, applicationServer: appServer.name };
  return JSON.stringify(body);
}

/** paramValue returns v as a generic-param value (RFC 3261 section 25.1): a token, or else a quoted-string. */
function paramValue(v: string): string {
  if (/^[A-Za-z0-9\-.!%*_+`'~]+$/.test(v)) return v;
  return `"${v.replace(/[\r\n]/g, ' ').replace(/(["\\])/g, '\\$1')}"`;
}
