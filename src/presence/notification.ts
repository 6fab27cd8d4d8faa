/**
 * From a received NOTIFY to the core's PresenceNotification, and on to the sink. toPresenceNotification is pure:
 * it reads header values and the body through the small NotifyMessage view, so it never throws and is tested
 * without a SIP stack.
 */
import type { Logger, PresenceNotification, PresenceSink } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { formatErrors } from '../core/result.ts';
import { parsePidf, PIDF_CONTENT_TYPE } from './pidf.ts';
import { parseSipDate, parseSubscriptionState } from './sip-headers.ts';

/** NotifyMessage is the part of a NOTIFY request this module reads. */
export interface NotifyMessage {
  /** header returns the first value of a header (case-insensitive name), undefined if absent. */
  header(name: string): string | undefined;
  readonly body: string;
}

/**
 * toPresenceNotification describes a NOTIFY for `user`. It returns null only when the Subscription-State header
 * is missing or unknown (SIP.js already answers such NOTIFYs 489 and never hands them on). A body that is present
 * but is not PIDF gives document null and bodyError set; an empty body gives both null.
 */
export function toPresenceNotification(user: UserId, msg: NotifyMessage, receivedAt: number): PresenceNotification | null {
  const subscription = parseSubscriptionState(msg.header('subscription-state'));
  if (!subscription) return null;
  const sentAt = parseSipDate(msg.header('date'));
  const body = msg.body ?? '';
  if (body.trim() === '') return { user, sentAt, receivedAt, subscription, document: null, bodyError: null };
  const contentType = (msg.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== '' && contentType !== PIDF_CONTENT_TYPE) {
    return { user, sentAt, receivedAt, subscription, document: null, bodyError: `unexpected Content-Type ${contentType}` };
  }
  const parsed = parsePidf(body);
  if (!parsed.ok) return { user, sentAt, receivedAt, subscription, document: null, bodyError: formatErrors(parsed.errors) };
  return { user, sentAt, receivedAt, subscription, document: parsed.value, bodyError: null };
}

/** NotifyRequest is a NOTIFY as the adapter sees it: the view above plus the user part of its From URI. */
export interface NotifyRequest extends NotifyMessage {
  readonly fromUser: string | undefined;
}

/**
 * deliverNotify hands a NOTIFY received on user's subscription to the sink. The presentity (the From URI's user
 * part) must be that user, else it is logged as NOTIFY_UNKNOWN_PRESENTITY and dropped. Nothing thrown by the
 * sink escapes; problems are logged.
 */
export function deliverNotify(user: UserId, req: NotifyRequest, receivedAt: number, sink: PresenceSink, log: Logger): void {
  const from = parseUserId(req.fromUser ?? '');
  if (!from.ok || from.value !== user) {
    const err = new PlbError('NOTIFY_UNKNOWN_PRESENTITY', `NOTIFY on ${user}'s subscription names presentity ${req.fromUser ?? '?'}`);
    log.error({ user, code: err.code }, err.message);
    return;
  }
  const n = toPresenceNotification(user, req, receivedAt);
  if (!n) {
    log.warn({ user }, 'NOTIFY without a usable Subscription-State ignored');
    return;
  }
  if (n.bodyError) log.warn({ user, code: 'PIDF_INVALID', bodyError: n.bodyError }, 'NOTIFY body is not PIDF');
  try {
    sink.onNotify(n);
  } catch (e) {
    log.error({ user, err: String(e) }, 'presence sink threw');
  }
}

/** RefusedNotify describes a NOTIFY presencelb's user agent refused, read from the response it sent. */
export interface RefusedNotify {
  readonly statusCode: 481 | 489;
  readonly callId: string;
  /** from is the NOTIFY's From header value: the notifier's presentity. */
  readonly from: string;
}

const REFUSED = /^SIP\/2\.0 (481|489) /;

/**
 * refusedNotify reads an outgoing message and returns the NOTIFY it refuses when it is a 481 (no such
 * subscription: an unknown dialog, or a NOTIFY outside any dialog) or 489 (an event package presencelb did not
 * subscribe to) response to a NOTIFY, else null. Cheap for every other message: one prefix test.
 */
export function refusedNotify(message: string): RefusedNotify | null {
  const m = REFUSED.exec(message);
  if (!m) return null;
  const end = message.indexOf('\r\n\r\n');
  const head = end < 0 ? message : message.slice(0, end);
  const header = (names: string) => new RegExp(`^(?:${names})[ \\t]*:[ \\t]*(.*?)[ \\t]*$`, 'im').exec(head)?.[1];
  if (!/^\d+\s+NOTIFY$/i.test(header('cseq') ?? '')) return null;
  return { statusCode: Number(m[1]) as 481 | 489, callId: header('call-id|i') ?? '', from: header('from|f') ?? '' };
}
