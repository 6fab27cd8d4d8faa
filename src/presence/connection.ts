/**
 * SipConnection owns presencelb's one SIP.js UserAgent and its WebSocket to the presence server.
 *
 *   closed --open()--> connected --(socket drops)--> lost --(retry timer | ensure())--> connected
 *      ^                   |                                        |
 *      +------close()------+----------------------------------------+
 *
 * open() fails with PRESENCE_UNAVAILABLE when the server cannot be reached, and leaves the connection usable:
 * ensure() (called before every operation) tries again. After the socket dropped it reconnects on a doubling
 * timer and through ensure(); every successful reconnect after the first connect calls onReconnected, because
 * SIP.js restores nothing by itself (its issues #1088, #1095) and the presence server bound registrations and
 * subscriptions to the old socket.
 */
import { UserAgent, type LogLevel } from 'sip.js';
import { WebSocket as NodeWebSocket } from 'ws';
import type { Clock, Logger } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';

/** SipConnectionOptions are what SipConnection needs from the client's options. */
export interface SipConnectionOptions {
  readonly wsUrl: string;
  /** aor is the user agent's own URI, e.g. sip:presencelb@example.org. */
  readonly aor: string;
  readonly connectTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** onReconnected runs after every reconnect that follows an established connection. */
  readonly onReconnected: () => void;
}

const MAX_RECONNECT_DELAY_MS = 30000;

/** SipConnection is the user agent and the state of its WebSocket. */
export class SipConnection {
  readonly ua: UserAgent;
  private readonly o: SipConnectionOptions;
  private started = false;
  private closing = false;
  private connects = 0;
  private cancelRetry: (() => void) | null = null;
  private retryDelayMs: number;

  constructor(o: SipConnectionOptions) {
    this.o = o;
    this.retryDelayMs = o.reconnectDelayMs;
    // SIP.js ships only a browser WebSocket transport and looks the class up globally; Node 20 has none.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= NodeWebSocket;
    const uri = UserAgent.makeURI(o.aor);
    if (!uri) throw new PlbError('CONFIG_INVALID', `not a SIP URI: ${o.aor}`);
    const sipLog = o.log.child({ lib: 'sip.js' });
    this.ua = new UserAgent({
      uri,
      transportOptions: { server: o.wsUrl, connectionTimeout: Math.max(1, Math.ceil(o.connectTimeoutMs / 1000)) },
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
      },
    });
  }

  /** epoch counts successful connects: state bound to the socket of an older epoch is stale. */
  get epoch(): number {
    return this.connects;
  }

  /** connected says whether the WebSocket is open now. */
  get connected(): boolean {
    return this.ua.isConnected();
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

  /** ensure resolves once the WebSocket is open, connecting now if it is not; rejects PRESENCE_UNAVAILABLE. */
  async ensure(): Promise<void> {
    if (this.closing) throw new PlbError('PRESENCE_UNAVAILABLE', `SIP client is stopped (${this.o.wsUrl})`);
    if (!this.started) return this.open();
    if (this.ua.isConnected()) return;
    await this.ua.reconnect().catch((e) => this.unavailable(e));
  }

  /** close stops retrying and stops the user agent (which closes the WebSocket). */
  async close(): Promise<void> {
    this.closing = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
    if (this.started) {
      this.started = false;
      await this.ua.stop().catch((e) => this.o.log.warn({ err: String(e) }, 'SIP user agent did not stop cleanly'));
    }
  }

  private unavailable(e: unknown): never {
    const why = e instanceof Error ? e.message : String(e);
    throw new PlbError('PRESENCE_UNAVAILABLE', `cannot connect to presence server at ${this.o.wsUrl}: ${why}`, { cause: e });
  }

  private onConnect(): void {
    this.cancelRetry?.();
    this.cancelRetry = null;
    this.retryDelayMs = this.o.reconnectDelayMs;
    const reconnected = this.connects > 0;
    this.connects += 1;
    this.o.log.info({ wsUrl: this.o.wsUrl, reconnected }, 'connected to presence server');
    if (reconnected) this.o.onReconnected();
  }

  private onDisconnect(error?: Error): void {
    if (this.closing) return;
    this.o.log.warn({ wsUrl: this.o.wsUrl, err: error?.message ?? null }, 'lost connection to presence server');
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
        this.o.log.warn({ wsUrl: this.o.wsUrl, err: String(e), nextInMs: this.retryDelayMs }, 'reconnect failed');
        this.scheduleRetry();
      });
    });
  }
}
