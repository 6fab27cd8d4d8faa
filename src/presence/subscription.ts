/**
 * UserSubscription is presencelb's presence subscription (RFC 6665, Event: presence) to one user, built on the
 * SIP.js core (SIP.js's Subscriber hides the status of a rejected SUBSCRIBE and the answer to an unsubscribe).
 *
 *   subscribing --2xx or first NOTIFY--> active --end()--> ending --2xx/481--> ended
 *        |                                 |
 *        +--non-2xx, timeout--> ended      +--NOTIFY terminated, refresh rejected, Timer N--> ended (onEnded)
 *
 * Every NOTIFY is answered 200 at once, before anything else happens. NOTIFYs are handed to onNotify while the
 * subscription is subscribing or active, including the one that says the server terminated it; after end() was
 * called they are answered but not handed on. onEnded reports an end presencelb did not ask for, saying whether
 * the sink was told (a NOTIFY with Subscription-State terminated) or the subscription was lost silently.
 */
import { Core, type URI, type UserAgent } from 'sip.js';
import type { Clock, Logger } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { expectSuccess, finalResponse, sipError } from './sip-outcome.ts';
import { parseSubscriptionState } from './sip-headers.ts';

/** FINAL_NOTIFY_WAIT_MS is how long an ended subscription waits for the server's final NOTIFY. */
const FINAL_NOTIFY_WAIT_MS = 2000;

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
  /** onNotify receives each NOTIFY request after it has been answered 200 (anything it throws is logged). */
  readonly onNotify: (request: Core.IncomingRequestMessage) => void;
  /** onEnded is told when the subscription ended without end() being called; notified says the sink saw it. */
  readonly onEnded: (why: string, notified: boolean) => void;
}

/** UserSubscription is one subscription dialog and its phase. */
export class UserSubscription {
  private readonly d: UserSubscriptionDeps;
  private _phase: SubscriptionPhase = 'subscribing';
  private dialog: Core.Subscription | null = null;
  private cancelLinger: (() => void) | null = null;

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
    const core = this.d.ua.userAgentCore;
    const what = `SUBSCRIBE ${this.d.target}`;
    const headers = ['Event: presence', 'Accept: application/pidf+xml', `Expires: ${this.d.expiresSec}`, `Contact: ${core.configuration.contact.toString()}`];
    const message = core.makeOutgoingRequestMessage(Core.C.SUBSCRIBE, this.d.target, core.configuration.aor, this.d.target, {}, headers);
    let firstNotify: () => void = () => undefined;
    const notified = new Promise<void>((resolve) => (firstNotify = resolve));
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
      onNotifyTimeout: () => this.endedBy('no NOTIFY after SUBSCRIBE (Timer N)', false),
    }), this.d.timeoutMs, this.d.clock).then((r) => {
      if (r.statusCode !== undefined && r.statusCode >= 300) throw sipError(what, r);
    });
    try {
      await Promise.race([answered, notified]);
    } catch (e) {
      this.transition('ended');
      throw e;
    }
    answered.catch(() => undefined);
    if (this._phase === 'subscribing') this.transition('active');
  }

  /** refresh re-SUBSCRIBEs an active subscription and resolves on the 2xx. */
  async refresh(): Promise<void> {
    const dialog = this.requireDialog('refresh');
    const what = `SUBSCRIBE ${this.d.target} (refresh)`;
    const r = await finalResponse(what, (delegate) => (dialog.refresh().delegate = delegate), this.d.timeoutMs, this.d.clock);
    expectSuccess(what, r);
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
      const r = await finalResponse(what, (delegate) => (dialog.unsubscribe().delegate = delegate), this.d.timeoutMs, this.d.clock);
      if (r.statusCode !== 481) expectSuccess(what, r);
    } finally {
      this.transition('ended');
      // The server's final NOTIFY (state terminated) normally closes the dialog: give it a moment, then make sure
      // SIP.js stops refreshing the dialog regardless.
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
    dialog.delegate = {
      onNotify: (request) => this.receive(request),
      onRefresh: (request) => {
        request.delegate = {
          onReject: (r) => this.d.log.warn({ target: String(this.d.target), status: r.message.statusCode }, 'subscription refresh rejected'),
        };
      },
      onTerminated: () => this.endedBy('dialog terminated (refresh rejected or no NOTIFY)', false),
    };
    dialog.autoRefresh = true;
  }

  /** receive answers a NOTIFY and hands it on while the subscription is wanted. */
  private receive(request: Core.IncomingNotifyRequest): void {
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
    if (state?.state === 'terminated') this.endedBy(`terminated by the presence server (reason ${state.reason ?? 'none'})`, true);
  }

  private endedBy(why: string, notified: boolean): void {
    if (this._phase === 'ending' || this._phase === 'ended') return;
    this.transition('ended');
    this.d.onEnded(why, notified);
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
  }
}

/** isTerminated reads a dialog's state afresh (it changes while we await, which type narrowing cannot see). */
function isTerminated(dialog: Core.Subscription): boolean {
  return dialog.subscriptionState === Core.SubscriptionState.Terminated;
}
