/**
 * SipConnection owns presencelb's one SIP.js UserAgent and its one connection to the presence server, over the
 * transport the URL's scheme names (presence-url.ts; sip-transport.ts for all of them).
 *
 *   closed --open()--> connected --(connection drops)--> lost --(retry timer | ensure())--> connected
 *      ^                   |                                        |
 *      +------close()------+----------------------------------------+
 *
 * open() fails with PRESENCE_UNAVAILABLE when the server cannot be reached, and leaves the connection usable:
 * ensure() (called before every operation) tries again. After the connection dropped it reconnects on a doubling
 * timer and through ensure(); every successful reconnect after the first connect calls onReconnected, because
 * SIP.js restores nothing by itself (its issues #1088, #1095) and the presence server bound registrations and
 * subscriptions to the old connection. `lost` aborts when the current connection drops, so a transaction waiting
 * for an answer that can no longer come (responses travel back on the request's connection) fails at once.
 * Before the user agent is made, SIP.js's header parser is swapped for the same rules built once and compiled
 * (sip-grammar.ts: the stock one rebuilds itself on every header, about 3 ms per message received).
 * A NOTIFY outside any dialog is refused (RFC 6665 section 3.2: presencelb creates subscriptions only with
 * SUBSCRIBE): 489 Bad Event when its event package is not presence, else 481.
 */
import { LostSignal } from './lost-signal.ts';
import { install as installGrammar } from './sip-grammar.ts';
import { install as installHeaderAccessors } from './sip-header-names.ts';
import { UserAgent, type LogLevel, type Notification } from 'sip.js';
import type { Clock, Logger } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import type { PresenceEndpoint } from './presence-url.ts';
import { streamConnector } from './stream-wire.ts';
import { SipTransport, type SipTransportOptions } from './sip-transport.ts';
import { webSocketConnector } from './websocket-wire.ts';

/** SipCredentials answer digest challenges (401/407, MD5: all SIP.js supports). */
export interface SipCredentials {
  readonly username: string;
  readonly password: string;
}

/** SipConnectionOptions are what SipConnection needs from the client's options. */
export interface SipConnectionOptions {
  readonly endpoint: PresenceEndpoint;
  /** ca replaces Node's bundled CA certificates for wss:// and tls:// (PEM). */
  readonly ca?: string | Buffer;
  /** aor is the user agent's own URI, e.g. sip:presencelb@example.org. */
  readonly aor: string;
  readonly credentials?: SipCredentials;
  readonly connectTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** onReconnected runs after every reconnect that follows an established connection. */
  readonly onReconnected: () => void;
  /** onSent sees every message the user agent sent (requests and the answers SIP.js gave on its own). */
  readonly onSent?: (message: string) => void;
}

const MAX_RECONNECT_DELAY_MS = 30000;

/** SipConnection is the user agent and the state of its connection. */
export class SipConnection {
  readonly ua: UserAgent;
  private readonly o: SipConnectionOptions;
  private started = false;
  private closing = false;
  private connects = 0;
  private cancelRetry: (() => void) | null = null;
  private retryDelayMs: number;
  private lostController = lostController();

  constructor(o: SipConnectionOptions) {
    this.o = o;
    this.retryDelayMs = o.reconnectDelayMs;
    const uri = UserAgent.makeURI(o.aor);
    if (!uri) throw new PlbError('CONFIG_INVALID', `not a SIP URI: ${o.aor}`);
    const ep = o.endpoint;
    const wire = { connectTimeoutMs: o.connectTimeoutMs, ...(o.ca ? { ca: o.ca } : {}) };
    const transportOptions: SipTransportOptions = {
      protocol: ep.viaProtocol,
      server: ep.url,
      connect: ep.scheme === 'tcp' || ep.scheme === 'tls' ? streamConnector(ep, wire) : webSocketConnector(ep, wire),
      ...(o.onSent ? { onSent: o.onSent } : {}),
    };
    const sipLog = o.log.child({ lib: 'sip.js' });
    const grammar = installGrammar();
    if (!grammar.installed) sipLog.warn({ code: 'SIP_GRAMMAR_STOCK', why: grammar.why }, 'SIP.js parses with its stock grammar (slower; see sip-grammar.ts)');
    installHeaderAccessors();
    this.ua = new UserAgent({
      uri,
      transportConstructor: SipTransport,
      transportOptions,
      contactParams: { transport: ep.scheme },
      ...(o.credentials ? { authorizationUsername: o.credentials.username, authorizationPassword: o.credentials.password } : {}),
      reconnectionAttempts: 0,
      logBuiltinEnabled: false,
      logConfiguration: false,
      logLevel: 'warn',
      logConnector: (level: LogLevel, category: string, _label: string | undefined, content: string) =>
        (level === 'error' ? sipLog.warn : sipLog.debug).call(sipLog, { category }, content),
      userAgentString: 'presencelb',
      delegate: {
        onConnect: () => this.onConnect(),
        onDisconnect: (error?: Error) => this.onDisconnect(error),
        onNotify: (n: Notification) => void refuseStrayNotify(n),
      },
    });
  }

  /** epoch counts successful connects: state bound to the connection of an older epoch is stale. */
  get epoch(): number {
    return this.connects;
  }

  /** connected says whether the connection is open now. */
  get connected(): boolean {
    return this.ua.isConnected();
  }

  /** lost is a signal that aborts when the current connection drops (read it when sending a request). */
  get lost(): LostSignal {
    return this.lostController;
  }

  /** open starts the user agent and connects; rejects with PRESENCE_UNAVAILABLE naming the URL. */
  async open(): Promise<void> {
    this.closing = false;
    if (!this.started) {
      this.started = true;
      await this.ua.start().catch((e) => this.unavailable(e));
      return;
    }
    await this.ensure();
  }

  /** ensure resolves once the connection is open, connecting now if it is not; rejects PRESENCE_UNAVAILABLE. */
  async ensure(): Promise<void> {
    if (this.closing) throw new PlbError('PRESENCE_UNAVAILABLE', `SIP client is stopped (${this.o.endpoint.url})`);
    if (!this.started) return this.open();
    if (this.ua.isConnected()) return;
    await this.ua.reconnect().catch((e) => this.unavailable(e));
  }

  /** close stops retrying and stops the user agent (which closes the connection). */
  async close(): Promise<void> {
    this.closing = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
    if (this.started) {
      this.started = false;
      await this.ua.stop().catch((e) => this.o.log.warn({ err: String(e) }, 'SIP user agent did not stop cleanly'));
    }
    this.lostController.abort(new PlbError('PRESENCE_UNAVAILABLE', 'SIP client stopped'));
  }

  private unavailable(e: unknown): never {
    const why = e instanceof Error ? e.message : String(e);
    throw new PlbError('PRESENCE_UNAVAILABLE', `cannot connect to presence server at ${this.o.endpoint.url}: ${why}`, { cause: e });
  }

  private onConnect(): void {
    this.cancelRetry?.();
    this.cancelRetry = null;
    this.retryDelayMs = this.o.reconnectDelayMs;
    const reconnected = this.connects > 0;
    this.connects += 1;
    this.o.log.info({ url: this.o.endpoint.url, reconnected }, 'connected to presence server');
    if (reconnected) this.o.onReconnected();
  }

  private onDisconnect(error?: Error): void {
    const lost = this.lostController;
    this.lostController = lostController();
    lost.abort(new PlbError('PRESENCE_UNAVAILABLE', `connection to ${this.o.endpoint.url} lost${error ? `: ${error.message}` : ''}`));
    if (this.closing) return;
    this.o.log.warn({ url: this.o.endpoint.url, err: error?.message ?? null }, 'lost connection to presence server');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closing || this.cancelRetry) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RECONNECT_DELAY_MS);
    this.cancelRetry = this.o.clock.setTimer(delay, () => {
      this.cancelRetry = null;
      if (this.closing || this.ua.isConnected()) return;
      this.ua.reconnect().catch((e) => {
        this.o.log.warn({ url: this.o.endpoint.url, err: String(e), nextInMs: this.retryDelayMs }, 'reconnect failed');
        this.scheduleRetry();
      });
    });
  }
}

/** lostController makes the signal behind SipConnection.lost; every transaction in flight listens to it. */
function lostController(): LostSignal {
  return new LostSignal();
}

/** refuseStrayNotify answers a NOTIFY that matched no subscription dialog (the owner's onSent logs the answer). */
function refuseStrayNotify(n: Notification): Promise<void> {
  const event = (n.request.getHeader('event') ?? '').split(';')[0]!.trim().toLowerCase();
  return n.reject({ statusCode: event === 'presence' ? 481 : 489 }).catch(() => undefined);
}
