/**
 * One SIP client transaction as a promise: the first final response, or PRESENCE_TIMEOUT after a deadline; and
 * the mapping from a non-2xx final response to presencelb's error codes. SIP.js answers a transport failure and
 * its own Timer F with made-up 503 and 408 responses that carry no Via; those map to PRESENCE_UNAVAILABLE and
 * PRESENCE_TIMEOUT, every real non-2xx response to PRESENCE_REJECTED with its status code in the message.
 */
import type { LostSignal } from './lost-signal.ts';
import type { Core } from 'sip.js';
import type { Clock } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';

/** SipResponse is a received (or SIP.js-made) SIP response. */
export type SipResponse = Core.IncomingResponseMessage;

/** SipStatus is what a PRESENCE_REJECTED error carries as its cause. */
export interface SipStatus {
  readonly statusCode: number;
  readonly reasonPhrase: string;
}

/**
 * finalResponse calls send with a request delegate that SIP.js must be given, and resolves with the first final
 * (>= 200) response, whatever its class. It rejects with PRESENCE_TIMEOUT after timeoutMs, and with
 * PRESENCE_UNAVAILABLE if send throws or returns a rejected promise, or as soon as `lost` aborts (the connection
 * the request went out on dropped, so its answer cannot come). Responses arriving later are ignored.
 */
export function finalResponse(
  what: string,
  send: (delegate: Core.OutgoingRequestDelegate) => unknown,
  timeoutMs: number,
  clock: Clock,
  lost?: LostSignal,
): Promise<SipResponse> {
  return new Promise<SipResponse>((resolve, reject) => {
    let settled = false;
    const cancel = clock.setTimer(timeoutMs, () => settle(() => reject(new PlbError('PRESENCE_TIMEOUT', `${what}: no final response within ${timeoutMs} ms`))));
    const onLost = () => settle(() => reject(new PlbError('PRESENCE_UNAVAILABLE', `${what}: connection lost before the answer came`, { cause: lost?.reason })));
    let unlisten = () => {};
    function settle(fn: () => void): void {
      if (settled) return;
      settled = true;
      cancel();
      unlisten();
      fn();
    }
    if (lost?.aborted) return onLost();
    if (lost) unlisten = lost.onAbort(onLost);
    const onFinal = (r: Core.IncomingResponse) => settle(() => resolve(r.message));
    const failed = (e: unknown) =>
      settle(() => reject(new PlbError('PRESENCE_UNAVAILABLE', `${what}: could not send: ${e instanceof Error ? e.message : String(e)}`, { cause: e })));
    try {
      const r = send({ onAccept: onFinal, onReject: onFinal, onRedirect: onFinal });
      if (r instanceof Promise) r.catch(failed);
    } catch (e) {
      failed(e);
    }
  });
}

/** isSuccess says whether a final response is 2xx. */
export function isSuccess(r: SipResponse): boolean {
  return (r.statusCode ?? 0) >= 200 && (r.statusCode ?? 0) < 300;
}

/** isSynthetic says whether SIP.js made the response up (transport error, Timer F): it has no Via. */
export function isSynthetic(r: SipResponse): boolean {
  return !r.hasHeader('via');
}

/** sipError turns a non-2xx final response to `what` into the PlbError presencelb reports. */
export function sipError(what: string, r: SipResponse): PlbError {
  const status: SipStatus = { statusCode: r.statusCode ?? 0, reasonPhrase: r.reasonPhrase ?? '' };
  const text = `${status.statusCode} ${status.reasonPhrase}`.trim();
  if (isSynthetic(r) && status.statusCode === 408) return new PlbError('PRESENCE_TIMEOUT', `${what}: ${text} (no answer)`, { cause: status });
  if (isSynthetic(r) && status.statusCode === 503) return new PlbError('PRESENCE_UNAVAILABLE', `${what}: ${text} (transport error)`, { cause: status });
  return new PlbError('PRESENCE_REJECTED', `${what}: rejected with ${text}`, { cause: status });
}

/** expectSuccess resolves for a 2xx response and throws sipError otherwise. */
export function expectSuccess(what: string, r: SipResponse): void {
  if (!isSuccess(r)) throw sipError(what, r);
}

/** sipStatusOf returns the SIP status a PRESENCE_REJECTED (or mapped) error came from, or null. */
export function sipStatusOf(e: unknown): SipStatus | null {
  if (!(e instanceof PlbError)) return null;
  const c = e.cause as Partial<SipStatus> | undefined;
  return c && typeof c.statusCode === 'number' ? { statusCode: c.statusCode, reasonPhrase: c.reasonPhrase ?? '' } : null;
}
