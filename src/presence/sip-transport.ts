/**
 * SipTransport is the SIP.js Transport (sip.js api/transport.ts) presencelb gives its user agent, for every URL
 * scheme: the connection itself is a Wire (stream-wire.ts for tcp:// and tls://, websocket-wire.ts for ws:// and
 * wss://), and this class keeps the state machine SIP.js relies on:
 *
 *   Disconnected --connect()--> Connecting --wire up--> Connected --wire closed (onDisconnect(error))--> Disconnected
 *        ^                          |                      |
 *        +------wire failed---------+                      +--disconnect() (onDisconnect())--> Disconnecting --> Disconnected
 *
 * onConnect is called on every entry into Connected and onDisconnect on every exit from it, with an error unless
 * disconnect() asked for it. The transport never reconnects by itself (SipConnection does). onSent sees every
 * message after it was handed to the wire, so the owner can notice what SIP.js answers on its own.
 */
import { EmitterImpl, TransportState, type Core, type Emitter, type Transport } from 'sip.js';

/** Wire is one open connection carrying whole SIP messages. */
export interface Wire {
  /** send writes one message; it throws if the connection is already closed. */
  send(message: string): void;
  /** close closes the connection; the wire's onClose is not called for a close asked for here. */
  close(): void;
}

/**
 * corkForTurn holds a socket's writes until the next tick (the first call in a turn corks it, and the tick
 * uncorks it), so the messages a wire sends in one turn of the event loop leave in one write. Under a burst of
 * presence changes one write per message was 8% of presencelb's CPU. Wires call it before each write.
 */
export function corkForTurn(socket: { cork(): void; uncork(): void }): void {
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
const corked = new WeakSet<object>();

/** WireEvents is what a wire reports once it is open. */
export interface WireEvents {
  onMessage(message: string): void;
  /** onClose is called once when the connection ends without close() having been called. */
  onClose(error: Error): void;
}

/** WireConnector opens one wire; it rejects when the connection cannot be made (in its own time limit). */
export type WireConnector = (events: WireEvents) => Promise<Wire>;

/** SipTransportOptions are the transportOptions presencelb gives SIP.js's UserAgent. */
export interface SipTransportOptions {
  /** protocol is the Via sent-protocol transport, e.g. TCP or WSS. */
  readonly protocol: string;
  /** server names the endpoint in messages, e.g. tcp://127.0.0.1:5060. */
  readonly server: string;
  readonly connect: WireConnector;
  readonly onSent?: (message: string) => void;
}

/** SipTransport implements SIP.js's Transport over a Wire. */
export class SipTransport implements Transport {
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;
  private readonly o: SipTransportOptions;
  private readonly log: Core.Logger;
  private readonly emitter = new EmitterImpl<TransportState>();
  private _state = TransportState.Disconnected;
  private wire: Wire | null = null;
  private connecting: Promise<void> | null = null;
  /** attempt identifies the newest connect(); a wire opened for an older one is closed at once. */
  private attempt = 0;

  /** The constructor signature is SIP.js's transportConstructor: (logger, transportOptions). */
  constructor(log: Core.Logger, options: SipTransportOptions) {
    this.log = log;
    this.o = options;
  }

  get protocol(): string {
    return this.o.protocol;
  }

  get state(): TransportState {
    return this._state;
  }

  get stateChange(): Emitter<TransportState> {
    return this.emitter;
  }

  isConnected(): boolean {
    return this._state === TransportState.Connected;
  }

  connect(): Promise<void> {
    if (this._state === TransportState.Connected) return Promise.resolve();
    if (this._state === TransportState.Connecting && this.connecting) return this.connecting;
    const attempt = ++this.attempt;
    this.transition(TransportState.Connecting);
    this.connecting = this.o
      .connect({
        onMessage: (m) => {
          if (this.attempt === attempt && this._state === TransportState.Connected) this.onMessage?.(m);
        },
        onClose: (error) => {
          if (this.attempt !== attempt || this._state !== TransportState.Connected) return;
          this.wire = null;
          this.log.warn(`connection to ${this.o.server} lost: ${error.message}`);
          this.transition(TransportState.Disconnected);
          this.onDisconnect?.(error);
        },
      })
      .then(
        (wire) => {
          this.connecting = null;
          if (this.attempt !== attempt || this._state !== TransportState.Connecting) {
            wire.close();
            throw new Error(`connecting to ${this.o.server} was cancelled`);
          }
          this.wire = wire;
          this.transition(TransportState.Connected);
          this.onConnect?.();
        },
        (e: unknown) => {
          if (this.attempt === attempt) {
            this.connecting = null;
            if (this._state === TransportState.Connecting) this.transition(TransportState.Disconnected);
          }
          throw e instanceof Error ? e : new Error(String(e));
        },
      );
    return this.connecting;
  }

  disconnect(): Promise<void> {
    if (this._state === TransportState.Disconnected) return Promise.resolve();
    const was = this._state;
    this.attempt += 1;
    this.connecting = null;
    this.transition(TransportState.Disconnecting);
    const wire = this.wire;
    this.wire = null;
    wire?.close();
    this.transition(TransportState.Disconnected);
    if (was === TransportState.Connected) this.onDisconnect?.();
    return Promise.resolve();
  }

  dispose(): Promise<void> {
    return this.disconnect();
  }

  send(message: string): Promise<void> {
    if (this._state !== TransportState.Connected || !this.wire) return Promise.reject(new Error(`not connected to ${this.o.server}`));
    try {
      this.wire.send(message);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    this.o.onSent?.(message);
    return Promise.resolve();
  }

  private transition(to: TransportState): void {
    if (to === this._state) return;
    this._state = to;
    this.emitter.emit(to);
  }
}
