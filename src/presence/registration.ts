/**
 * UserRegistration is presencelb's registration binding for one tracked user: the AOR sip:lb-<uuid>@<domain>
 * bound to the user agent's contact on its connection, kept alive by SIP.js's Registerer (which re-registers as
 * refresh-policy.ts says). register() and unregister() resolve on a 2xx only; the binding object lives until dispose().
 * When the binding is lost on its own (a refresh rejected or unanswered, the expiry passed) onLost is called, so
 * the owner can register again: SIP.js's Registerer then stays unregistered and stops refreshing.
 */
import type { LostSignal } from './lost-signal.ts';
import { Registerer, RegistererState, RequestPendingError, type UserAgent, type URI } from 'sip.js';
import type { Clock } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { refreshPercent } from './refresh-policy.ts';
import { expectSuccess, finalResponse, type SipResponse } from './sip-outcome.ts';

const PENDING_RETRY_MS = 100;

/** UserRegistrationDeps is what one registration needs. */
export interface UserRegistrationDeps {
  readonly ua: UserAgent;
  readonly aor: URI;
  readonly expiresSec: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** lost returns the signal of the connection a request is about to go out on (SipConnection.lost). */
  readonly lost: () => LostSignal;
  readonly onLost: () => void;
}

/** UserRegistration wraps one SIP.js Registerer. */
export class UserRegistration {
  private readonly d: UserRegistrationDeps;
  private readonly registerer: Registerer;
  /** busy is true while register() or unregister() runs: state changes then are answers, not losses. */
  private busy = false;
  private disposed = false;

  constructor(d: UserRegistrationDeps) {
    this.d = d;
    this.registerer = new Registerer(d.ua, {
      expires: d.expiresSec,
      // SIP.js's default (99%) leaves a 600 s binding 6 s, and a 5 s one 50 ms: see refresh-policy.ts.
      refreshFrequency: refreshPercent(d.expiresSec),
      logConfiguration: false,
      params: { toUri: d.aor, fromUri: d.aor },
    });
    let was = this.registerer.state;
    this.registerer.stateChange.addListener((now) => {
      const lost = was === RegistererState.Registered && now === RegistererState.Unregistered && !this.busy && !this.disposed;
      was = now;
      if (lost) d.onLost();
    });
  }

  /** registered says whether the last REGISTER for this binding succeeded and has not expired. */
  get registered(): boolean {
    return this.registerer.state === RegistererState.Registered;
  }

  /** register sends REGISTER (Expires: expiresSec) and resolves on its 2xx. */
  async register(): Promise<void> {
    const what = `REGISTER ${this.d.aor}`;
    expectSuccess(what, await this.send(what, (requestDelegate) => this.registerer.register({ requestDelegate })));
  }

  /** unregister sends REGISTER with expires=0 for this binding's contact and resolves on its 2xx. */
  async unregister(): Promise<void> {
    const what = `REGISTER ${this.d.aor} (expires=0)`;
    expectSuccess(what, await this.send(what, (requestDelegate) => this.registerer.unregister({ requestDelegate })));
  }

  /** dispose releases the Registerer without sending anything more (call it after unregister). */
  dispose(): void {
    this.disposed = true;
    void this.registerer.dispose();
  }

  /**
   * send runs one REGISTER transaction. SIP.js allows one REGISTER at a time per Registerer and rejects with
   * RequestPendingError while its own refresh is in flight: then wait a little and try again, within timeoutMs.
   */
  private async send(what: string, start: Parameters<typeof finalResponse>[1]): Promise<SipResponse> {
    this.busy = true;
    try {
      return await this.sendWhenIdle(what, start);
    } finally {
      this.busy = false;
    }
  }

  private async sendWhenIdle(what: string, start: Parameters<typeof finalResponse>[1]): Promise<SipResponse> {
    const deadline = this.d.clock.now() + this.d.timeoutMs;
    for (;;) {
      try {
        return await finalResponse(what, start, Math.max(1, deadline - this.d.clock.now()), this.d.clock, this.d.lost());
      } catch (e) {
        const pending = e instanceof Error && e.cause instanceof RequestPendingError;
        if (!pending) throw e;
        if (this.d.clock.now() + PENDING_RETRY_MS >= deadline) {
          throw new PlbError('PRESENCE_TIMEOUT', `${what}: the previous REGISTER is still unanswered after ${this.d.timeoutMs} ms`, { cause: e });
        }
        await new Promise<void>((resolve) => this.d.clock.setTimer(PENDING_RETRY_MS, resolve));
      }
    }
  }
}
