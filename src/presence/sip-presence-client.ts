/**
 * SipPresenceClient is the PresenceClient adapter: presencelb as one SIP.js user agent (sip:presencelb@<domain>)
 * on one WebSocket to the presence server, holding per user a registration binding (UserRegistration), a
 * publication of presencelb's own tuple (UserPublication) and a presence subscription (UserSubscription).
 *
 * Contracts beyond PresenceClient's:
 * - Operations of one kind for one user run one at a time, in call order; different users and kinds run at once.
 * - Every operation first makes sure the WebSocket is open (connecting again if it was never opened or dropped),
 *   then resolves on a final 2xx; it rejects with PRESENCE_UNAVAILABLE (cannot connect or send),
 *   PRESENCE_REJECTED (non-2xx; the message names the status code) or PRESENCE_TIMEOUT (after opTimeoutMs).
 * - Withdrawals reach their goal state when the server says the thing is already gone: 481 to an unsubscribe and
 *   412 to an unpublish resolve like a 2xx. Withdrawing what is not held resolves at once without any traffic.
 * - What is held stays held until withdrawn: after the WebSocket comes back, and when a refresh fails or a
 *   subscription dies without a terminating NOTIFY, the Healer re-establishes it (REGISTER again, PUBLISH again,
 *   a fresh SUBSCRIBE whose first NOTIFY goes to the sink like any other). A subscription the server ends with a
 *   NOTIFY (Subscription-State: terminated) is delivered to the sink and dropped: the core decides.
 * - NOTIFYs are answered 200 before the sink sees them; the sink is called synchronously and never throws out.
 */
import { Messager, UserAgent, type URI } from 'sip.js';
import type { AppServer, Logger, PresenceClient } from '../core/ports.ts';
import { isPlbError, PlbError } from '../core/errors.ts';
import { bindingAor, presentityUri } from '../core/presence.ts';
import type { UserId } from '../core/user-id.ts';
import { SipConnection } from './connection.ts';
import { Healer, type HeldKind } from './healer.ts';
import { KeyedSerial } from './keyed-serial.ts';
import { deliverNotify } from './notification.ts';
import { ownPresenceDocument } from './own-document.ts';
import { UserPublication } from './publication.ts';
import { UserRegistration } from './registration.ts';
import { expectSuccess, finalResponse, sipStatusOf } from './sip-outcome.ts';
import { requireSipPresenceClientOptions, type ResolvedSipPresenceClientOptions, type SipPresenceClientOptions } from './sip-presence-client-options.ts';
import { UserSubscription } from './subscription.ts';
import { reconnectHeader, reconnectBody, RECONNECT_CONTENT_TYPE } from './reconnect-message.ts';

/** HeldState says what the adapter holds for one user. */
export interface HeldState {
  readonly registered: boolean;
  readonly published: boolean;
  readonly subscribed: boolean;
}

/** SipPresenceClient implements PresenceClient over SIP.js; see the module comment for its contracts. */
export class SipPresenceClient implements PresenceClient {
  private readonly o: ResolvedSipPresenceClientOptions;
  private readonly log: Logger;
  private readonly conn: SipConnection;
  private readonly serial = new KeyedSerial();
  private readonly registrations = new Map<UserId, UserRegistration>();
  private readonly publications = new Map<UserId, UserPublication>();
  private readonly subscriptions = new Map<UserId, UserSubscription>();
  private readonly healer: Healer;
  private stopped = false;

  /** The constructor validates options (PlbError CONFIG_INVALID) and does no I/O. */
  constructor(options: SipPresenceClientOptions) {
    this.o = requireSipPresenceClientOptions(options);
    this.log = this.o.log.child({ component: 'sip-presence-client' });
    this.conn = new SipConnection({
      wsUrl: this.o.wsUrl,
      aor: `sip:presencelb@${this.o.domain}`,
      connectTimeoutMs: this.o.opTimeoutMs,
      reconnectDelayMs: this.o.reconnectDelayMs,
      clock: this.o.clock,
      log: this.log,
      onReconnected: () => this.restore(),
    });
    this.healer = new Healer({ clock: this.o.clock, log: this.log, serial: this.serial, reestablish: (kind, user) => this.reestablish(kind, user) });
  }

  /**
   * start connects the WebSocket; rejects with PRESENCE_UNAVAILABLE (naming the URL) if it cannot, and the client
   * stays usable: the next operation tries to connect again. A stopped client cannot be started again.
   */
  async start(): Promise<void> {
    if (this.stopped) throw new PlbError('PRESENCE_UNAVAILABLE', `SIP presence client is stopped (${this.o.wsUrl}); create a new one`);
    await this.conn.open();
  }

  /**
   * stop withdraws everything still held (best effort, each step bounded by opTimeoutMs), then disconnects.
   * It never rejects; failures are logged. Operations called after stop() reject with PRESENCE_UNAVAILABLE.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.healer.close();
    await this.serial.idle();
    const users = new Set<UserId>([...this.registrations.keys(), ...this.publications.keys(), ...this.subscriptions.keys()]);
    await Promise.all([...users].map(async (user) => {
      for (const step of [this.withdrawSubscription, this.withdrawPublication, this.withdrawRegistration]) {
        await step.call(this, user).catch((e: unknown) => this.log.warn({ user, err: String(e) }, 'withdrawal at stop failed'));
      }
    }));
    this.subscriptions.forEach((s) => s.abandon());
    this.publications.forEach((p) => p.dispose());
    this.registrations.forEach((r) => r.dispose());
    this.subscriptions.clear();
    this.publications.clear();
    this.registrations.clear();
    await this.conn.close();
  }

  /** connected says whether the WebSocket to the presence server is open now (for health reports). */
  get connected(): boolean {
    return this.conn.connected;
  }

  /** held reports what is held for a user (for diagnostics and tests). */
  held(user: UserId): HeldState {
    return {
      registered: this.registrations.get(user)?.registered ?? false,
      published: this.publications.get(user)?.published ?? false,
      subscribed: this.subscriptions.get(user)?.phase === 'active',
    };
  }

  register(user: UserId): Promise<void> {
    return this.op('registration', user, async () => {
      await this.conn.ensure();
      let reg = this.registrations.get(user);
      if (!reg) {
        reg = new UserRegistration({
          ua: this.conn.ua,
          aor: this.uri(bindingAor(user, this.o.domain)),
          expiresSec: this.o.registerExpiresSec,
          timeoutMs: this.o.opTimeoutMs,
          clock: this.o.clock,
          onLost: () => this.lost('registration', user, 'registration lapsed (refresh failed or expired)'),
        });
        this.registrations.set(user, reg);
      }
      await reg.register();
    });
  }

  publish(user: UserId, appServer: AppServer | null): Promise<void> {
    return this.op('publication', user, async () => {
      await this.conn.ensure();
      let pub = this.publications.get(user);
      if (!pub) {
        pub = new UserPublication({
          ua: this.conn.ua,
          target: this.uri(presentityUri(user, this.o.domain)),
          from: this.uri(bindingAor(user, this.o.domain)),
          expiresSec: this.o.publishExpiresSec,
          timeoutMs: this.o.opTimeoutMs,
          clock: this.o.clock,
          log: this.log.child({ user }),
          onLost: () => this.lost('publication', user, 'publication refresh failed'),
        });
        this.publications.set(user, pub);
      }
      try {
        await pub.publish(ownPresenceDocument(user, this.o.domain, appServer, this.o.clock.now()));
      } catch (e) {
        if (!pub.published && this.publications.get(user) === pub) {
          pub.dispose();
          this.publications.delete(user);
        }
        throw e;
      }
    });
  }

  subscribe(user: UserId): Promise<void> {
    return this.op('subscription', user, async () => {
      await this.conn.ensure();
      const existing = this.subscriptions.get(user);
      if (existing && existing.phase !== 'active') {
        existing.abandon();
        this.subscriptions.delete(user);
      }
      if (existing?.phase === 'active') {
        try {
          return await existing.refresh();
        } catch (e) {
          if (sipStatusOf(e)?.statusCode !== 481) throw e;
          existing.abandon();
          this.subscriptions.delete(user);
        }
      }
      await this.subscribeNow(user);
    });
  }

  sendReconnect(user: UserId, appServer: AppServer): Promise<void> {
    return this.op('message', user, async () => {
      await this.conn.ensure();
      const target = this.uri(presentityUri(user, this.o.domain));
      const messager = new Messager(this.conn.ua, target, reconnectBody(user, appServer), RECONNECT_CONTENT_TYPE, {
        extraHeaders: [reconnectHeader(user, appServer)],
      });
      const what = `MESSAGE (reconnect) ${target}`;
      expectSuccess(what, await finalResponse(what, (requestDelegate) => messager.message({ requestDelegate }), this.o.opTimeoutMs, this.o.clock));
    });
  }

  unsubscribe(user: UserId): Promise<void> {
    return this.op('subscription', user, () => this.withdrawSubscription(user));
  }

  unpublish(user: UserId): Promise<void> {
    return this.op('publication', user, () => this.withdrawPublication(user));
  }

  unregister(user: UserId): Promise<void> {
    return this.op('registration', user, () => this.withdrawRegistration(user));
  }

  private async withdrawSubscription(user: UserId): Promise<void> {
    const sub = this.subscriptions.get(user);
    if (!sub) return;
    try {
      if (sub.phase === 'active') await this.conn.ensure();
      await sub.end();
    } finally {
      if (this.subscriptions.get(user) === sub) this.subscriptions.delete(user);
    }
  }

  private async withdrawPublication(user: UserId): Promise<void> {
    const pub = this.publications.get(user);
    if (!pub) return;
    if (pub.published) {
      await this.conn.ensure();
      await pub.remove();
    }
    pub.dispose();
    if (this.publications.get(user) === pub) this.publications.delete(user);
  }

  private async withdrawRegistration(user: UserId): Promise<void> {
    const reg = this.registrations.get(user);
    if (!reg) return;
    await this.conn.ensure();
    await reg.unregister();
    reg.dispose();
    if (this.registrations.get(user) === reg) this.registrations.delete(user);
  }

  private async subscribeNow(user: UserId): Promise<void> {
    const sub: UserSubscription = new UserSubscription({
      ua: this.conn.ua,
      target: this.uri(presentityUri(user, this.o.domain)),
      expiresSec: this.o.subscribeExpiresSec,
      timeoutMs: this.o.opTimeoutMs,
      clock: this.o.clock,
      log: this.log.child({ user }),
      epoch: this.conn.epoch,
      onNotify: (request) => {
        const receivedAt = this.o.clock.now();
        const view = { fromUser: request.from?.uri?.user, header: (h: string) => request.getHeader(h), body: request.body ?? '' };
        deliverNotify(user, view, receivedAt, this.o.sink, this.log);
      },
      onEnded: (why, notified) => {
        if (this.subscriptions.get(user) !== sub) return;
        if (notified) {
          this.log.info({ user, why }, 'presence subscription ended');
          this.subscriptions.delete(user);
        } else {
          this.lost('subscription', user, why);
        }
      },
    });
    this.subscriptions.set(user, sub);
    try {
      await sub.start();
    } catch (e) {
      if (this.subscriptions.get(user) === sub) this.subscriptions.delete(user);
      throw e;
    }
  }

  /** restore re-establishes everything held after the WebSocket came back. */
  private restore(): void {
    if (this.stopped) return;
    this.log.info({ registrations: this.registrations.size, publications: this.publications.size, subscriptions: this.subscriptions.size }, 'reconnected: restoring presence state');
    for (const user of this.registrations.keys()) this.healer.heal('registration', user);
    for (const user of this.publications.keys()) this.healer.heal('publication', user);
    for (const user of this.subscriptions.keys()) this.healer.heal('subscription', user);
  }

  private lost(kind: HeldKind, user: UserId, why: string): void {
    if (this.stopped) return;
    this.log.warn({ user, kind, why }, 'presence state lost; re-establishing');
    this.healer.heal(kind, user);
  }

  /** reestablish re-creates one held item (run by the Healer under the per-user serialization). */
  private async reestablish(kind: HeldKind, user: UserId): Promise<void> {
    if (this.stopped) return;
    await this.conn.ensure();
    if (kind === 'registration') return this.registrations.get(user)?.register();
    if (kind === 'publication') return this.publications.get(user)?.republish();
    const sub = this.subscriptions.get(user);
    // Healthy: active on the current socket (a fresh subscribe() may have replaced the lost one meanwhile).
    if (!sub || (sub.phase === 'active' && sub.epoch === this.conn.epoch)) return;
    // The old dialog may still exist at the server (the socket dropped, the server did not restart): end it.
    await sub.end().catch(() => sub.abandon());
    if (this.subscriptions.get(user) === sub) this.subscriptions.delete(user);
    await this.subscribeNow(user);
  }

  private op<T>(kind: string, user: UserId, fn: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new PlbError('PRESENCE_UNAVAILABLE', `SIP presence client is stopped (${this.o.wsUrl})`));
    return this.serial.run(`${kind}:${user}`, fn).catch((e: unknown) => {
      throw isPlbError(e) ? e : new PlbError('PRESENCE_UNAVAILABLE', `${kind} for ${user}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    });
  }

  private uri(s: string): URI {
    const u = UserAgent.makeURI(s);
    if (!u) throw new PlbError('CONFIG_INVALID', `not a SIP URI: ${s}`);
    return u;
  }
}
