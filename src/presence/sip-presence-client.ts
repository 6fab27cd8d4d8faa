/**
 * SipPresenceClient is the PresenceClient adapter: presencelb as one SIP.js user agent (sip:presencelb@<domain>)
 * on one connection to the presence server (ws://, wss://, tcp:// or tls://), holding per user a registration
 * binding (UserRegistration), a publication of presencelb's own tuple (UserPublication) and a presence
 * subscription (UserSubscription, kept by SubscriptionBook).
 *
 * Contracts beyond PresenceClient's:
 * - Operations of one kind for one user run one at a time, in call order; different users and kinds run at once.
 * - Every operation first makes sure the connection is open (connecting again if it was never opened or dropped),
 *   then resolves on a final 2xx; it rejects with PRESENCE_UNAVAILABLE (cannot connect or send, or the connection
 *   dropped before the answer), PRESENCE_REJECTED (non-2xx; the message names the status code) or
 *   PRESENCE_TIMEOUT (after opTimeoutMs). Digest challenges (401/407) are answered with the configured credentials.
 * - Withdrawals reach their goal state when the server says the thing is already gone: 481 to an unsubscribe and
 *   412 to an unpublish resolve like a 2xx. Withdrawing what is not held resolves at once without any traffic. A
 *   withdrawal that fails still lets the item go: it rejects, and nothing refreshes or re-establishes the item.
 * - What is held stays held until withdrawn: after the connection comes back, and when a refresh fails or a
 *   subscription dies without a terminating NOTIFY, the Healer re-establishes it (REGISTER again, PUBLISH again,
 *   a fresh SUBSCRIBE whose first NOTIFY goes to the sink like any other).
 * - A NOTIFY terminating a subscription goes to the sink with its reason; subscription-book.ts then drops it for
 *   good (rejected, noresource, invariant: the core tears down) or subscribes again, and tells the sink's
 *   onSubscriptionLost when that fails for good. An outage alone never gives up anything.
 * - NOTIFYs are answered before the sink sees them; the sink is called synchronously and never throws out.
 *   NOTIFYs that match no subscription (481) or name an event package presencelb did not subscribe to (489)
 *   are refused by the user agent and logged (code NOTIFY_UNKNOWN_PRESENTITY).
 */
import { Messager, UserAgent, type URI } from 'sip.js';
import type { AppServer, Logger, PresenceClient } from '../core/ports.ts';
import { isPlbError, PlbError } from '../core/errors.ts';
import { bindingAor, presentityUri } from '../core/presence.ts';
import type { UserId } from '../core/user-id.ts';
import { SipConnection } from './connection.ts';
import { Healer, type HeldKind } from './healer.ts';
import { KeyedSerial } from './keyed-serial.ts';
import { refusedNotify } from './notification.ts';
import { ownPresenceDocument } from './own-document.ts';
import { UserPublication } from './publication.ts';
import { UserRegistration } from './registration.ts';
import { expectSuccess, finalResponse } from './sip-outcome.ts';
import { requireSipPresenceClientOptions, type ResolvedSipPresenceClientOptions, type SipPresenceClientOptions } from './sip-presence-client-options.ts';
import { SubscriptionBook } from './subscription-book.ts';
import { reconnectHeader, reconnectBody, RECONNECT_CONTENT_TYPE } from './reconnect-message.ts';
import { readCaFile, readCredentials } from './sip-credentials.ts';

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
  private readonly subscriptions: SubscriptionBook;
  private readonly healer: Healer;
  private stopped = false;

  /**
   * The constructor validates options and reads the password and CA files once (PlbError CONFIG_INVALID naming
   * the field on any problem); it does no network I/O.
   */
  constructor(options: SipPresenceClientOptions) {
    this.o = requireSipPresenceClientOptions(options);
    this.log = this.o.log.child({ component: 'sip-presence-client' });
    this.conn = new SipConnection({
      endpoint: this.o.endpoint,
      ...(this.o.caFile ? { ca: readCaFile(this.o.caFile) } : {}),
      ...(this.o.auth ? { credentials: readCredentials(this.o.auth) } : {}),
      aor: `sip:presencelb@${this.o.domain}`,
      connectTimeoutMs: this.o.opTimeoutMs,
      reconnectDelayMs: this.o.reconnectDelayMs,
      clock: this.o.clock,
      log: this.log,
      onReconnected: () => this.restore(),
      onSent: (m) => this.noticeRefusal(m),
    });
    this.healer = new Healer({
      clock: this.o.clock,
      log: this.log,
      serial: this.serial,
      ...(this.o.healDelaysMs ? { delaysMs: this.o.healDelaysMs } : {}),
      connected: () => this.conn.connected,
      reestablish: (kind, user) => this.reestablish(kind, user),
      onGaveUp: (kind, user, err) => {
        if (kind === 'subscription') this.subscriptions.gaveUp(user, err);
      },
    });
    this.subscriptions = new SubscriptionBook({
      conn: this.conn,
      healer: () => this.healer,
      target: (user) => this.uri(presentityUri(user, this.o.domain)),
      expiresSec: this.o.subscribeExpiresSec,
      timeoutMs: this.o.opTimeoutMs,
      sink: this.o.sink,
      clock: this.o.clock,
      log: this.log,
      stopped: () => this.stopped,
    });
  }

  /**
   * start connects to the presence server; rejects with PRESENCE_UNAVAILABLE (naming the URL) if it cannot, and
   * the client stays usable: the next operation tries to connect again. A stopped client cannot be started again.
   */
  async start(): Promise<void> {
    if (this.stopped) throw new PlbError('PRESENCE_UNAVAILABLE', `SIP presence client is stopped (${this.o.endpoint.url}); create a new one`);
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
    const users = new Set<UserId>([...this.registrations.keys(), ...this.publications.keys(), ...this.subscriptions.users()]);
    await Promise.all([...users].map(async (user) => {
      for (const step of [(u: UserId) => this.subscriptions.withdraw(u), this.withdrawPublication, this.withdrawRegistration]) {
        await step.call(this, user).catch((e: unknown) => this.log.warn({ user, err: String(e) }, 'withdrawal at stop failed'));
      }
    }));
    this.subscriptions.abandonAll();
    this.publications.forEach((p) => p.dispose());
    this.registrations.forEach((r) => r.dispose());
    this.publications.clear();
    this.registrations.clear();
    await this.conn.close();
  }

  /** connected says whether the connection to the presence server is open now (for health reports). */
  get connected(): boolean {
    return this.conn.connected;
  }

  /** held reports what is held for a user (for diagnostics and tests). */
  held(user: UserId): HeldState {
    return {
      registered: this.registrations.get(user)?.registered ?? false,
      published: this.publications.get(user)?.published ?? false,
      subscribed: this.subscriptions.active(user),
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
          lost: () => this.conn.lost,
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
          lost: () => this.conn.lost,
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
      await this.subscriptions.subscribe(user);
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
      const r = await finalResponse(what, (requestDelegate) => messager.message({ requestDelegate }), this.o.opTimeoutMs, this.o.clock, this.conn.lost);
      expectSuccess(what, r);
    });
  }

  unsubscribe(user: UserId): Promise<void> {
    return this.op('subscription', user, () => this.subscriptions.withdraw(user));
  }

  unpublish(user: UserId): Promise<void> {
    return this.op('publication', user, () => this.withdrawPublication(user));
  }

  unregister(user: UserId): Promise<void> {
    return this.op('registration', user, () => this.withdrawRegistration(user));
  }

  /**
   * withdrawPublication and withdrawRegistration remove the item at the server, and let it go here whether that
   * worked or not (the error still reaches the caller): nothing refreshes or heals it afterwards, so a withdrawal
   * that timed out under load never brings the item back, and the server drops it at its expiry.
   */
  private async withdrawPublication(user: UserId): Promise<void> {
    const pub = this.publications.get(user);
    if (!pub) return;
    this.healer.cancel('publication', user);
    try {
      if (pub.published) {
        await this.conn.ensure();
        await pub.remove();
      }
    } finally {
      pub.dispose();
      if (this.publications.get(user) === pub) this.publications.delete(user);
    }
  }

  private async withdrawRegistration(user: UserId): Promise<void> {
    const reg = this.registrations.get(user);
    if (!reg) return;
    this.healer.cancel('registration', user);
    try {
      await this.conn.ensure();
      await reg.unregister();
    } finally {
      reg.dispose();
      if (this.registrations.get(user) === reg) this.registrations.delete(user);
    }
  }

  /** restore re-establishes everything held after the connection came back. */
  private restore(): void {
    if (this.stopped) return;
    this.log.info({ registrations: this.registrations.size, publications: this.publications.size, subscriptions: this.subscriptions.size }, 'reconnected: restoring presence state');
    for (const user of this.registrations.keys()) this.healer.heal('registration', user);
    for (const user of this.publications.keys()) this.healer.heal('publication', user);
    for (const user of this.subscriptions.users()) this.healer.heal('subscription', user);
  }

  private lost(kind: HeldKind, user: UserId, why: string): void {
    if (this.stopped) return;
    this.log.warn({ user, kind, why }, 'presence state lost; re-establishing');
    this.healer.heal(kind, user);
  }

  /** noticeRefusal logs the NOTIFYs the user agent refused on its own (see refusedNotify). */
  private noticeRefusal(message: string): void {
    const r = refusedNotify(message);
    if (!r) return;
    const why = r.statusCode === 481 ? 'a subscription presencelb does not hold' : 'an event package presencelb did not subscribe to';
    this.log.warn({ status: r.statusCode, callId: r.callId, from: r.from, code: 'NOTIFY_UNKNOWN_PRESENTITY' }, `NOTIFY for ${why}: answered ${r.statusCode}`);
  }

  /** reestablish re-creates one held item (run by the Healer under the per-user serialization). */
  private async reestablish(kind: HeldKind, user: UserId): Promise<void> {
    if (this.stopped) return;
    await this.conn.ensure();
    if (kind === 'registration') return this.registrations.get(user)?.register();
    if (kind === 'publication') return this.publications.get(user)?.republish();
    return this.subscriptions.reestablish(user);
  }

  private op<T>(kind: string, user: UserId, fn: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new PlbError('PRESENCE_UNAVAILABLE', `SIP presence client is stopped (${this.o.endpoint.url})`));
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
