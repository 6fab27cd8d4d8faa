/**
 * UserSubscription is presencelb's presence subscription (RFC 6665, Event: presence) to one user, built on the
 * SIP.js core (SIP.js's Subscriber hides the status of a rejected SUBSCRIBE and the answer to an unsubscribe).
 *
 *   subscribing --2xx or first NOTIFY--> active --end()--> ending --2xx/481--> ended
 *        |                                 |  ^
 *        |                                 +--+ refresh (timer, or refresh()) answered 2xx
 *        |                                 |
 *        +--non-2xx, timeout--> ended      +--NOTIFY terminated, refresh failed, Timer N--> ended (onEnded)
 *
 * Every NOTIFY is answered at once, before anything else happens: 200, or 481 when its From names another
 * presentity than the one subscribed to (then it is dropped). NOTIFYs are handed to onNotify while the
 * subscription is subscribing or active, including the one that says the server terminated it; after end()
 * was called they are answered but not handed on. onEnded reports an end presencelb did not ask for, with the
 * Subscription-State of the NOTIFY that terminated it (the sink saw that one), or null when it was lost silently.
 * A 423 to the initial SUBSCRIBE is retried once with the server's Min-Expires (RFC 6665 section 4.1.2.1).
 * An active subscription is refreshed in its dialog before it expires (refresh-policy.ts), counting from the
 * latest expiry the server stated (a 2xx's Expires, a NOTIFY's Subscription-State expires); a refresh that fails
 * ends it as lost (onEnded with null), so the owner subscribes afresh. SIP.js's own auto-refresh is not used: it
 * refreshes at 90%, too late for short grants, and ignores the Expires of a refresh's 2xx.
 */
import type { LostSignal } from './lost-signal.ts';
import { Core, type URI, type UserAgent } from 'sip.js';
import type { Clock, Logger, SubscriptionState } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { refreshDelayMs } from './refresh-policy.ts';
import { expectSuccess, finalResponse, sipError, type SipResponse } from './sip-outcome.ts';
import { parseSubscriptionState } from './sip-headers.ts';

/**
 * FINAL_NOTIFY_WAIT_MS is how long an ended subscription waits for the server's final NOTIFY. Under a burst the 200
 * to the unsubscribe overtakes the NOTIFYs waiting in the inbox (paced-inbox.ts), and the final NOTIFY can arrive
 * seconds later: at 2 s, 7% of them found no dialog (answered 481) in a 10,000-user teardown.
 */
const FINAL_NOTIFY_WAIT_MS = 5000;

/** SubscriptionPhase is where a UserSubscription is in its life (see the diagram above). */
export type SubscriptionPhase = 'subscribing' | 'active' | 'ending' | 'ended';

/** UserSubscriptionDeps is what one subscription needs. */
export interface UserSubscriptionDeps {
  readonly ua: UserAgent;
  readonly target: URI;
  readonly expiresSec: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** epoch is the connection epoch the subscription is created in (see SipConnection.epoch). */
  readonly epoch: number;
  /** lost returns the signal of the connection a request is about to go out on (SipConnection.lost). */
  readonly lost: () => LostSignal;
  /** onNotify receives each NOTIFY request after it has been answered 200 (anything it throws is logged). */
  readonly onNotify: (request: Core.IncomingRequestMessage) => void;
  /**
   * onEnded is told when the subscription ended without end() being called: state is the Subscription-State of
   * the terminating NOTIFY (already handed to onNotify), null when the subscription was lost without one.
   */
  readonly onEnded: (why: string, state: SubscriptionState | null) => void;
}

/** UserSubscription is one subscription dialog and its phase. */
export class UserSubscription {
  private readonly d: UserSubscriptionDeps;
  private _phase: SubscriptionPhase = 'subscribing';
  private dialog: Core.Subscription | null = null;
  /** attached settles once the first NOTIFY created the dialog (a 2xx can come before it). */
  private attached: () => void = () => undefined;
  private readonly dialogReady = new Promise<void>((resolve) => (this.attached = resolve));
  private cancelLinger: (() => void) | null = null;
  private cancelRefresh: (() => void) | null = null;
  /** refreshAt is when the planned refresh runs (ms since the epoch), Infinity when none is planned. */
  private refreshAt = Number.POSITIVE_INFINITY;

  constructor(d: UserSubscriptionDeps) {
    this.d = d;
  }

  get phase(): SubscriptionPhase {
    return this._phase;
  }

  /** epoch is the connection epoch the subscription was created in. */
  get epoch(): number {
    return this.d.epoch;
  }

  /**
   * start sends the initial SUBSCRIBE and resolves on its 2xx or on the first NOTIFY, whichever comes first;
   * it rejects (and the subscription is ended) on a non-2xx final response or when nothing came in time.
   */
  async start(): Promise<void> {
    const what = `SUBSCRIBE ${this.d.target}`;
    try {
      let r = await this.attempt(this.d.expiresSec);
      const minExpires = Number(r?.getHeader('min-expires'));
      if (r?.statusCode === 423 && Number.isInteger(minExpires) && minExpires > this.d.expiresSec) {
        this.d.log.info({ target: String(this.d.target), minExpires }, 'presence server wants a longer subscription (423): asking for Min-Expires');
        r = await this.attempt(minExpires);
      }
      if (r && (r.statusCode ?? 0) >= 300) throw sipError(what, r);
      if (r) this.planRefresh(grantedSec(r) ?? this.d.expiresSec);
    } catch (e) {
      this.transition('ended');
      throw e;
    }
    if (this._phase === 'subscribing') this.transition('active');
  }

  /** attempt sends one initial SUBSCRIBE; it resolves with its final response, or null if a NOTIFY came first. */
  private async attempt(expiresSec: number): Promise<SipResponse | null> {
    const core = this.d.ua.userAgentCore;
    const what = `SUBSCRIBE ${this.d.target}`;
    const headers = ['Event: presence', 'Accept: application/pidf+xml', `Expires: ${expiresSec}`, `Contact: ${core.configuration.contact.toString()}`];
    const message = core.makeOutgoingRequestMessage(Core.C.SUBSCRIBE, this.d.target, core.configuration.aor, this.d.target, {}, headers);
    let firstNotify: () => void = () => undefined;
    const notified = new Promise<null>((resolve) => (firstNotify = () => resolve(null)));
    const answered = finalResponse(what, (delegate) => core.subscribe(message, {
      ...delegate,
      onNotify: ({ request, subscription }) => {
        if (this._phase === 'ended') {
          // start() already failed (timeout): do not leave a subscription nobody wants at the server.
          request.accept();
          if (subscription) subscription.unsubscribe();
          return;
        }
        if (subscription) this.attach(subscription);
        this.receive(request);
        firstNotify();
      },
      onNotifyTimeout: () => this.endedBy('no NOTIFY after SUBSCRIBE (Timer N)', null),
    }), this.d.timeoutMs, this.d.clock, this.d.lost());
    answered.catch(() => undefined);
    return Promise.race([answered, notified]);
  }

  /**
   * refresh re-SUBSCRIBEs an active subscription and resolves on the 2xx. Right after a 2xx the dialog may not
   * exist yet (it is made by the first NOTIFY): then it waits for that NOTIFY, within timeoutMs.
   */
  async refresh(): Promise<void> {
    if (this._phase === 'active' && !this.dialog) await this.waitForDialog();
    const dialog = this.requireDialog('refresh');
    const what = `SUBSCRIBE ${this.d.target} (refresh)`;
    const r = await finalResponse(what, (delegate) => (dialog.refresh().delegate = delegate), this.d.timeoutMs, this.d.clock, this.d.lost());
    expectSuccess(what, r);
    this.planRefresh(grantedSec(r) ?? this.d.expiresSec, true);
  }

  /**
   * end unsubscribes (SUBSCRIBE Expires: 0) and resolves on the 2xx, or on a 481 (the server no longer has the
   * subscription, which is the goal). With no dialog (never confirmed, or already ended) it resolves at once.
   */
  async end(): Promise<void> {
    const dialog = this.dialog;
    if (this._phase === 'ended' || this._phase === 'ending' || !dialog || isTerminated(dialog)) {
      this.transition('ended');
      return;
    }
    this.transition('ending');
    const what = `SUBSCRIBE ${this.d.target} (Expires: 0)`;
    try {
      const r = await finalResponse(what, (delegate) => (dialog.unsubscribe().delegate = delegate), this.d.timeoutMs, this.d.clock, this.d.lost());
      if (r.statusCode !== 481) expectSuccess(what, r);
    } finally {
      this.transition('ended');
      // The server's final NOTIFY (state terminated) normally closes the dialog: give it a moment, then make sure
      // SIP.js forgets the dialog (and its Timer N) regardless.
      if (!isTerminated(dialog)) {
        this.cancelLinger = this.d.clock.setTimer(FINAL_NOTIFY_WAIT_MS, () => this.abandon());
      }
    }
  }

  /** abandon forgets the dialog locally without sending anything (its socket is gone). */
  abandon(): void {
    this.cancelLinger?.();
    this.cancelLinger = null;
    if (this._phase !== 'ended' && this._phase !== 'ending') this.transition('ended');
    const dialog = this.dialog;
    this.dialog = null;
    if (dialog && !isTerminated(dialog)) dialog.dispose();
  }

  private attach(dialog: Core.Subscription): void {
    this.dialog = dialog;
    this.attached();
    dialog.delegate = {
      onNotify: (request) => this.receive(request),
      onTerminated: () => this.endedBy('dialog terminated (refresh rejected or no NOTIFY)', null),
    };
  }

  /**
   * planRefresh plans the in-dialog refresh for a grant of expiresSec from now; it only ever moves the planned
   * refresh earlier, unless reset (after a refresh's 2xx, which starts a new grant).
   */
  private planRefresh(expiresSec: number | null, reset = false): void {
    if (expiresSec === null || (this._phase !== 'subscribing' && this._phase !== 'active')) return;
    const at = this.d.clock.now() + refreshDelayMs(expiresSec);
    if (!reset && at >= this.refreshAt) return;
    this.stopRefresh();
    this.refreshAt = at;
    this.cancelRefresh = this.d.clock.setTimer(at - this.d.clock.now(), () => {
      this.cancelRefresh = null;
      this.refreshAt = Number.POSITIVE_INFINITY;
      if (this._phase !== 'active') return;
      this.refresh().catch((e: unknown) => {
        if (this._phase !== 'active') return;
        this.d.log.warn({ target: String(this.d.target), err: String(e) }, 'subscription refresh failed');
        this.endedBy(`refresh failed: ${e instanceof Error ? e.message : String(e)}`, null);
        this.abandon();
      });
    });
  }

  private stopRefresh(): void {
    this.cancelRefresh?.();
    this.cancelRefresh = null;
    this.refreshAt = Number.POSITIVE_INFINITY;
  }

  /** receive answers a NOTIFY and hands it on while the subscription is wanted. */
  private receive(request: Core.IncomingNotifyRequest): void {
    if (request.message.from?.uri?.user !== this.d.target.user) {
      // Not the presentity subscribed to: presencelb holds no subscription for it (the owner's onSent logs the 481).
      request.reject({ statusCode: 481 });
      return;
    }
    request.accept();
    if (this._phase === 'ending' || this._phase === 'ended') {
      if (this.dialog !== null && isTerminated(this.dialog)) this.abandon();
      return;
    }
    const state = parseSubscriptionState(request.message.getHeader('subscription-state'));
    try {
      this.d.onNotify(request.message);
    } catch (e) {
      this.d.log.error({ target: String(this.d.target), err: String(e) }, 'NOTIFY handler threw');
    }
    if (state?.state === 'terminated') this.endedBy(`terminated by the presence server (reason ${state.reason ?? 'none'})`, state);
    else this.planRefresh(state?.expires ?? null);
  }

  private endedBy(why: string, state: SubscriptionState | null): void {
    if (this._phase === 'ending' || this._phase === 'ended') return;
    this.transition('ended');
    this.d.onEnded(why, state);
  }

  private waitForDialog(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancel = this.d.clock.setTimer(this.d.timeoutMs, () =>
        reject(new PlbError('PRESENCE_TIMEOUT', `SUBSCRIBE ${this.d.target}: no NOTIFY within ${this.d.timeoutMs} ms of the 2xx`)),
      );
      void this.dialogReady.then(() => {
        cancel();
        resolve();
      });
    });
  }

  private requireDialog(op: string): Core.Subscription {
    if (this._phase !== 'active' || !this.dialog) throw new PlbError('ILLEGAL_TRANSITION', `cannot ${op} a subscription in phase ${this._phase}`);
    return this.dialog;
  }

  /** transition is the only place the phase changes; ended is final. */
  private transition(to: SubscriptionPhase): void {
    const allowed: Record<SubscriptionPhase, readonly SubscriptionPhase[]> = {
      subscribing: ['active', 'ended'],
      active: ['ending', 'ended'],
      ending: ['ended'],
      ended: ['ended'],
    };
    if (to === this._phase && to !== 'ended') return;
    if (!allowed[this._phase].includes(to)) throw new PlbError('ILLEGAL_TRANSITION', `subscription ${this._phase} -> ${to}`);
    this._phase = to;
    if (to === 'ending' || to === 'ended') this.stopRefresh();
  }
}

/** grantedSec reads the Expires of a 2xx to SUBSCRIBE (RFC 6665 section 4.1.2.1), null when absent or unreadable. */
function grantedSec(r: SipResponse): number | null {
  const v = r.getHeader('expires');
  return v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : null;
}

/** isTerminated reads a dialog's state afresh (it changes while we await, which type narrowing cannot see). */
function isTerminated(dialog: Core.Subscription): boolean {
  return dialog.subscriptionState === Core.SubscriptionState.Terminated;
}
