/**
 * SubscriptionBook keeps presencelb's presence subscriptions, at most one per user, for SipPresenceClient (which
 * runs every call here under its per-user serialization, key `subscription:<user>`):
 * - subscribe() refreshes an active subscription in its dialog, or starts a new one (a 481 to the refresh, or
 *   any subscription not active, is replaced by a new dialog).
 * - A subscription lost without a terminating NOTIFY (Timer N, a failed refresh, the connection gone) is
 *   re-established by the Healer (reestablish()).
 * - A NOTIFY terminating a subscription has gone to the sink; termination.ts decides: rejected, noresource and
 *   invariant drop it for good (the core tears down), anything else makes the Healer subscribe again, at once or
 *   after retry-after, unless the server keeps doing it (FlapGuard).
 * - When re-establishing fails for good (the Healer gave up with the connection up, or the FlapGuard refused),
 *   the subscription is dropped and the sink's onSubscriptionLost is told: NOTIFYs for the user will not come.
 */
import type { URI } from 'sip.js';
import type { Clock, Logger, PresenceSink, SubscriptionState } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import type { UserId } from '../core/user-id.ts';
import type { SipConnection } from './connection.ts';
import type { Healer } from './healer.ts';
import { deliverNotify } from './notification.ts';
import { sipStatusOf } from './sip-outcome.ts';
import { UserSubscription } from './subscription.ts';
import { FlapGuard, terminationAction } from './termination.ts';

/** SubscriptionBookDeps is what the book needs from the client. */
export interface SubscriptionBookDeps {
  readonly conn: SipConnection;
  readonly healer: () => Healer;
  /** target is the user's presentity URI. */
  readonly target: (user: UserId) => URI;
  readonly expiresSec: number;
  readonly timeoutMs: number;
  readonly sink: PresenceSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** stopped says the client is stopping: nothing is re-established any more. */
  readonly stopped: () => boolean;
}

/** SubscriptionBook maps users to their UserSubscription; see the module comment. */
export class SubscriptionBook {
  private readonly d: SubscriptionBookDeps;
  private readonly subs = new Map<UserId, UserSubscription>();
  private readonly flaps = new FlapGuard<UserId>();

  constructor(d: SubscriptionBookDeps) {
    this.d = d;
  }

  /** users lists every user with a subscription held (active or being re-established). */
  users(): UserId[] {
    return [...this.subs.keys()];
  }

  get size(): number {
    return this.subs.size;
  }

  /** active says whether the user's subscription is active. */
  active(user: UserId): boolean {
    return this.subs.get(user)?.phase === 'active';
  }

  /** subscribe refreshes the user's active subscription, or starts a new one. */
  async subscribe(user: UserId): Promise<void> {
    const existing = this.subs.get(user);
    if (existing && existing.phase !== 'active') {
      existing.abandon();
      this.subs.delete(user);
    }
    if (existing?.phase === 'active') {
      try {
        return await existing.refresh();
      } catch (e) {
        if (sipStatusOf(e)?.statusCode !== 481) throw e;
        existing.abandon();
        this.subs.delete(user);
      }
    }
    await this.start(user);
  }

  /** withdraw unsubscribes (SUBSCRIBE Expires: 0); nothing held, nothing sent. */
  async withdraw(user: UserId): Promise<void> {
    this.d.healer().cancel('subscription', user);
    this.flaps.forget(user);
    const sub = this.subs.get(user);
    if (!sub) return;
    try {
      if (sub.phase === 'active') await this.d.conn.ensure();
      await sub.end();
    } finally {
      if (this.subs.get(user) === sub) this.subs.delete(user);
    }
  }

  /**
   * reestablish replaces a subscription that is not active on the current connection by a new one (the Healer's
   * attempt); it rejects to ask for another attempt, keeping the old one as the placeholder.
   */
  async reestablish(user: UserId): Promise<void> {
    const sub = this.subs.get(user);
    // Healthy: active on the current connection (a fresh subscribe() may have replaced the lost one meanwhile).
    if (!sub || (sub.phase === 'active' && sub.epoch === this.d.conn.epoch)) return;
    // The old dialog may still exist at the server (the connection dropped, the server did not restart): end it.
    await sub.end().catch(() => sub.abandon());
    if (this.subs.get(user) === sub) this.subs.delete(user);
    try {
      await this.start(user);
    } catch (e) {
      if (!this.subs.has(user)) this.subs.set(user, sub);
      throw e;
    }
  }

  /** gaveUp is the Healer's report that the user's subscription could not be re-established. */
  gaveUp(user: UserId, err: unknown): void {
    const sub = this.subs.get(user);
    if (sub && !this.d.stopped()) this.drop(user, sub, `could not subscribe again: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** abandonAll forgets every subscription locally (after stop's withdrawals). */
  abandonAll(): void {
    this.subs.forEach((s) => s.abandon());
    this.subs.clear();
  }

  private async start(user: UserId): Promise<void> {
    const log = this.d.log.child({ user });
    const sub: UserSubscription = new UserSubscription({
      ua: this.d.conn.ua,
      target: this.d.target(user),
      expiresSec: this.d.expiresSec,
      timeoutMs: this.d.timeoutMs,
      clock: this.d.clock,
      log,
      epoch: this.d.conn.epoch,
      lost: () => this.d.conn.lost,
      onNotify: (request) => {
        const receivedAt = this.d.clock.now();
        const view = { fromUser: request.from?.uri?.user, header: (h: string) => request.getHeader(h), body: request.body ?? '' };
        deliverNotify(user, view, receivedAt, this.d.sink, this.d.log);
      },
      onEnded: (why, state) => {
        if (this.subs.get(user) !== sub || this.d.stopped()) return;
        if (state) return this.terminated(user, sub, state);
        this.d.log.warn({ user, kind: 'subscription', why }, 'presence state lost; re-establishing');
        this.d.healer().heal('subscription', user);
      },
    });
    this.subs.set(user, sub);
    try {
      await sub.start();
    } catch (e) {
      if (this.subs.get(user) === sub) this.subs.delete(user);
      throw e;
    }
  }

  /** terminated handles a subscription the server ended with a NOTIFY (already delivered to the sink). */
  private terminated(user: UserId, sub: UserSubscription, state: SubscriptionState): void {
    const action = terminationAction(state);
    if (!action.resubscribe) {
      this.d.log.info({ user, reason: state.reason }, 'presence subscription terminated by the server for good: not subscribing again');
      this.subs.delete(user);
      this.flaps.forget(user);
      return;
    }
    if (!this.flaps.allow(user, this.d.clock.now())) {
      this.d.log.error({ user, reason: state.reason }, 'presence server keeps terminating the subscription: giving it up');
      return this.drop(user, sub, `terminated again and again by the presence server (reason ${state.reason ?? 'none'})`);
    }
    this.d.log.info({ user, reason: state.reason, retryAfter: state.retryAfter, inMs: action.afterMs }, 'presence subscription terminated by the server: subscribing again');
    this.d.healer().heal('subscription', user, action.afterMs);
  }

  /** drop forgets a subscription that cannot be kept and tells the core NOTIFYs will not come. */
  private drop(user: UserId, sub: UserSubscription, reason: string): void {
    this.d.healer().cancel('subscription', user);
    this.flaps.forget(user);
    if (this.subs.get(user) === sub) this.subs.delete(user);
    sub.abandon();
    const err = new PlbError('PRESENCE_UNAVAILABLE', reason);
    this.d.log.error({ user, reason, code: err.code }, 'presence subscription lost: telling the core');
    try {
      this.d.sink.onSubscriptionLost?.(user, reason);
    } catch (e) {
      this.d.log.error({ user, err: String(e) }, 'presence sink threw');
    }
  }
}
