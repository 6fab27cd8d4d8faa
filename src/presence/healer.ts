/**
 * Healer re-establishes, on a retry schedule, presence state presencelb still holds but the presence server lost:
 * a registration or publication whose refresh failed, a subscription that ended without a NOTIFY telling the
 * core, and everything after the WebSocket came back. It only schedules; what "re-establish" means is the
 * owner's reestablish(), run under the owner's per-user serialization so it never races a withdrawal, and which
 * must do nothing if the item is no longer held by the time it runs.
 */
import type { Clock, Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import type { KeyedSerial } from './keyed-serial.ts';

/** HeldKind is one kind of per-user presence state. */
export type HeldKind = 'registration' | 'publication' | 'subscription';

/** HEAL_DELAYS_MS is when attempts run, counted from the loss; the last one is after SIP.js's Timer F (32 s). */
export const HEAL_DELAYS_MS: readonly number[] = [0, 1000, 5000, 35000];

/** HealerDeps is what the Healer needs from its owner. */
export interface HealerDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly serial: KeyedSerial;
  /** reestablish re-creates one held item; it rejects to ask for another attempt. */
  readonly reestablish: (kind: HeldKind, user: UserId) => Promise<void>;
}

/** Healer runs at most one retry chain per (kind, user) at a time. */
export class Healer {
  private readonly d: HealerDeps;
  private readonly pending = new Map<string, () => void>();
  private closed = false;

  constructor(d: HealerDeps) {
    this.d = d;
  }

  /** heal starts a retry chain for one item unless one is already running. */
  heal(kind: HeldKind, user: UserId): void {
    const key = `${kind}:${user}`;
    if (this.closed || this.pending.has(key)) return;
    this.attempt(kind, user, key, 0);
  }

  /** close cancels every scheduled attempt; heal() does nothing afterwards. */
  close(): void {
    this.closed = true;
    this.pending.forEach((cancel) => cancel());
    this.pending.clear();
  }

  private attempt(kind: HeldKind, user: UserId, key: string, n: number): void {
    const cancel = this.d.clock.setTimer(HEAL_DELAYS_MS[n] ?? 0, () => {
      void this.d.serial.run(key, () => this.d.reestablish(kind, user)).then(
        () => this.pending.delete(key),
        (e: unknown) => {
          this.pending.delete(key);
          if (this.closed) return;
          if (n + 1 >= HEAL_DELAYS_MS.length) {
            this.d.log.error({ user, kind, err: String(e), attempts: n + 1 }, 'gave up re-establishing presence state');
            return;
          }
          this.d.log.warn({ user, kind, err: String(e), attempt: n + 1 }, 're-establishing presence state failed; will retry');
          this.attempt(kind, user, key, n + 1);
        },
      );
    });
    this.pending.set(key, cancel);
  }
}
