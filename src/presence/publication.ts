/**
 * UserPublication is one event-state publication (RFC 3903) of presencelb's tuple into one user's presence.
 *
 *   unpublished --publish(body)--> published --publish(body)--> published   (modify: SIP-If-Match + body)
 *        ^                            |  refresh timer (refresh-policy.ts): SIP-If-Match + the same body
 *        +-----------remove()---------+  (Expires: 0 + SIP-If-Match)
 *
 * Invariant: etag is non-null exactly while the presence server holds the publication as far as we know.
 * A 412 (the server forgot the entity tag: it expired, or the server restarted) to a modify or refresh is
 * answered by publishing afresh once, without SIP-If-Match (RFC 3903 section 4.1); a 412 to remove() means the
 * publication is already gone, which is what remove() wants. A 423 with a Min-Expires above what was asked is
 * answered by sending the same request once more with that Expires, which later refreshes keep asking for
 * (RFC 3903 section 4.5). When a refresh fails otherwise, onLost is called (the publication will lapse).
 * Refreshes carry the body, as a modification does (RFC 3903 section 4.4 lets a modification refresh): Kamailio
 * 5.6 with its presentities in memory (publ_cache=2) keeps an empty document after a body-less refresh, and every
 * NOTIFY after it would lack presencelb's tuple (test/presence/refresh.test.ts shows both).
 * SIP.js's Publisher is not used because it surfaces no response status (it only emits state
 * changes, and none at all for a successful modify).
 */
import type { LostSignal } from './lost-signal.ts';
import { Core, type URI, type UserAgent } from 'sip.js';
import type { Clock, Logger } from '../core/ports.ts';
import { expectSuccess, finalResponse, isSuccess, sipError, type SipResponse } from './sip-outcome.ts';
import { PIDF_CONTENT_TYPE } from './pidf.ts';
import { refreshDelayMs } from './refresh-policy.ts';

/** UserPublicationDeps is what one publication needs. */
export interface UserPublicationDeps {
  readonly ua: UserAgent;
  /** target is the presentity (Request-URI and To). */
  readonly target: URI;
  /** from is who publishes (From), presencelb's binding AOR for the user. */
  readonly from: URI;
  readonly expiresSec: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** lost returns the signal of the connection a request is about to go out on (SipConnection.lost). */
  readonly lost: () => LostSignal;
  readonly onLost: () => void;
}

/** UserPublication holds the entity tag and body of one publication and refreshes it. */
export class UserPublication {
  private readonly d: UserPublicationDeps;
  private etag: string | null = null;
  private body: string | null = null;
  private cancelRefresh: (() => void) | null = null;
  private disposed = false;
  /** expiresSec is what presencelb asks for: the configured value, or the server's Min-Expires once it said so. */
  private expiresSec: number;

  constructor(d: UserPublicationDeps) {
    this.d = d;
    this.expiresSec = d.expiresSec;
  }

  /** published says whether the server holds this publication (as far as presencelb knows). */
  get published(): boolean {
    return this.etag !== null;
  }

  /** publish sends body as the initial publication, or as a modification of the current one. */
  async publish(body: string): Promise<void> {
    this.body = body;
    if (this.etag !== null) {
      const r = await this.send('modify', this.etag, body);
      if (r.statusCode !== 412) return this.accept('PUBLISH (modify)', r);
      this.d.log.info({ target: String(this.d.target) }, 'presence server forgot the publication (412); publishing afresh');
      this.etag = null;
    }
    await this.initial(body);
  }

  /** republish sends the last body again (after a reconnect); it does nothing if nothing was published. */
  async republish(): Promise<void> {
    if (this.body !== null) await this.publish(this.body);
  }

  /** remove withdraws the publication (Expires: 0); resolves at once if nothing is published. */
  async remove(): Promise<void> {
    this.stopRefresh();
    if (this.etag === null) return;
    const r = await this.send('remove', this.etag, undefined, 0);
    if (r.statusCode === 412) {
      this.d.log.info({ target: String(this.d.target) }, 'publication already gone at the presence server (412)');
    } else {
      expectSuccess(`PUBLISH ${this.d.target} (Expires: 0)`, r);
    }
    this.etag = null;
    this.body = null;
  }

  /** dispose stops the refresh timer; the publication is left to expire at the server if still held. */
  dispose(): void {
    this.disposed = true;
    this.stopRefresh();
  }

  private async initial(body: string): Promise<void> {
    this.accept('PUBLISH', await this.send('initial', null, body));
  }

  /** accept records a 2xx (entity tag, granted expiry, refresh timer) or throws the error for a failure. */
  private accept(what: string, r: SipResponse): void {
    if (!isSuccess(r)) throw sipError(`${what} ${this.d.target}`, r);
    const etag = r.getHeader('sip-etag');
    if (!etag) throw sipError(`${what} ${this.d.target}: 2xx without SIP-ETag`, r);
    this.etag = etag;
    const granted = Number(r.getHeader('expires'));
    this.scheduleRefresh(Number.isInteger(granted) && granted > 0 ? granted : this.expiresSec);
  }

  private scheduleRefresh(grantedSec: number): void {
    this.stopRefresh();
    if (this.disposed) return;
    this.cancelRefresh = this.d.clock.setTimer(refreshDelayMs(grantedSec), () => {
      this.cancelRefresh = null;
      this.refresh().catch((e) => {
        this.d.log.warn({ target: String(this.d.target), err: String(e) }, 'publication refresh failed');
        if (!this.disposed) this.d.onLost();
      });
    });
  }

  private async refresh(): Promise<void> {
    if (this.etag === null || this.disposed) return;
    const r = await this.send('refresh', this.etag, this.body ?? undefined);
    if (r.statusCode === 412 && this.body !== null) {
      this.etag = null;
      return this.initial(this.body);
    }
    this.accept('PUBLISH (refresh)', r);
  }

  private stopRefresh(): void {
    this.cancelRefresh?.();
    this.cancelRefresh = null;
  }

  /**
   * send runs one PUBLISH transaction (Event: presence) and resolves with its final response; a 423 whose
   * Min-Expires is above the Expires sent is retried once with that Expires (not for a removal, Expires: 0).
   */
  private async send(kind: string, ifMatch: string | null, body?: string, expires = this.expiresSec): Promise<SipResponse> {
    const r = await this.sendOnce(kind, expires, ifMatch, body);
    const minExpires = Number(r.getHeader('min-expires'));
    if (r.statusCode !== 423 || expires === 0 || !Number.isInteger(minExpires) || minExpires <= expires) return r;
    this.d.log.info({ target: String(this.d.target), expires, minExpires }, 'presence server wants a longer publication (423): asking for Min-Expires');
    this.expiresSec = Math.max(this.expiresSec, minExpires);
    return this.sendOnce(kind, minExpires, ifMatch, body);
  }

  private sendOnce(kind: string, expires: number, ifMatch: string | null, body?: string): Promise<SipResponse> {
    const core = this.d.ua.userAgentCore;
    const headers = ['Event: presence', `Expires: ${expires}`];
    if (ifMatch !== null) headers.push(`SIP-If-Match: ${ifMatch}`);
    const sipBody = body === undefined ? undefined : { contentDisposition: 'render', contentType: PIDF_CONTENT_TYPE, content: body };
    const message = core.makeOutgoingRequestMessage(Core.C.PUBLISH, this.d.target, this.d.from, this.d.target, {}, headers, sipBody);
    const what = `PUBLISH (${kind}) ${this.d.target}`;
    return finalResponse(what, (delegate) => core.publish(message, delegate), this.d.timeoutMs, this.d.clock, this.d.lost());
  }
}
