/**
 * Healer re-establishes, on a retry schedule, presence state presencelb still holds but the presence server lost:
 * a registration or publication whose refresh failed, a subscription that ended without presencelb asking (lost
 * silently, or terminated by the server with a reason that invites a new subscription), and everything after the
 * connection came back. It only schedules; what "re-establish" means is the owner's reestablish(), run under the
 * owner's per-user serialization so it never races a withdrawal, and which must do nothing if the item is no
 * longer held by the time it runs.
 *
 * An attempt that fails while the connection is down ends the chain without counting as a try: the owner heals
 * everything it holds once the connection is back, so an outage never exhausts a chain. A chain whose every
 * attempt failed with the connection up is given up: onGaveUp tells the owner, which tells the core.
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
  /** delaysMs overrides HEAL_DELAYS_MS (tests); the first delay is added to heal()'s notBeforeMs. */
  readonly delaysMs?: readonly number[];
  /** connected says whether the connection to the presence server is up now. */
  readonly connected: () => boolean;
  /** reestablish re-creates one held item; it rejects to ask for another attempt. */
  readonly reestablish: (kind: HeldKind, user: UserId) => Promise<void>;
  /** onGaveUp is told when every attempt of a chain failed with the connection up; err is the last failure. */
  readonly onGaveUp: (kind: HeldKind, user: UserId, err: unknown) => void;
  /** maxConcurrent bounds the attempts running at once (default MAX_CONCURRENT_ATTEMPTS); the others wait their turn. */
  readonly maxConcurrent?: number;
}

/**
 * MAX_CONCURRENT_ATTEMPTS: after a reconnect every held item of every user is due at once (three per user); run
 * all of them together and thousands of transactions compete for one user agent and one connection, the answers
 * come too late, and the presence server drops the connection again. A bounded number keeps the pace it can take.
 */
export const MAX_CONCURRENT_ATTEMPTS = 64;

/** Healer runs at most one retry chain per (kind, user) at a time. */
export class Healer {
  private readonly d: HealerDeps;
  private readonly delays: readonly number[];
  private readonly pending = new Map<string, () => void>();
  private closed = false;
  private running = 0;
  /** waiting are the attempts due but not started, in the order they came due. */
  private readonly waiting: Array<() => void> = [];
  private readonly maxConcurrent: number;

  constructor(d: HealerDeps) {
    this.d = d;
    this.delays = d.delaysMs && d.delaysMs.length > 0 ? d.delaysMs : HEAL_DELAYS_MS;
    this.maxConcurrent = d.maxConcurrent ?? MAX_CONCURRENT_ATTEMPTS;
  }

  /** active is the number of attempts running; queued, the number due and waiting for a turn. */
  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** heal starts a retry chain for one item unless one is already running; the first try waits notBeforeMs more. */
  heal(kind: HeldKind, user: UserId, notBeforeMs = 0): void {
    const key = `${kind}:${user}`;
    if (this.closed || this.pending.has(key)) return;
    this.attempt(kind, user, key, 0, notBeforeMs);
  }

  /** healing says whether a retry chain for the item is scheduled or running. */
  healing(kind: HeldKind, user: UserId): boolean {
    return this.pending.has(`${kind}:${user}`);
  }

  /** cancel stops the item's retry chain, if any (an attempt already running completes). */
  cancel(kind: HeldKind, user: UserId): void {
    const key = `${kind}:${user}`;
    this.pending.get(key)?.();
    this.pending.delete(key);
  }

  /** close cancels every scheduled attempt; heal() does nothing afterwards. */
  close(): void {
    this.closed = true;
    this.pending.forEach((cancel) => cancel());
    this.pending.clear();
  }

  private attempt(kind: HeldKind, user: UserId, key: string, n: number, extraMs = 0): void {
    let cancelled = false;
    const cancelTimer = this.d.clock.setTimer((this.delays[n] ?? 0) + extraMs, () => {
      void this.turn(() => (cancelled || this.closed ? Promise.resolve() : this.d.serial.run(key, () => this.d.reestablish(kind, user)))).then(
        () => {
          if (!cancelled) this.pending.delete(key);
        },
        (e: unknown) => {
          if (cancelled || this.closed) return;
          this.pending.delete(key);
          if (!this.d.connected()) {
            this.d.log.info({ user, kind, err: String(e) }, 'presence server unreachable: state is re-established once the connection is back');
            return;
          }
          if (n + 1 >= this.delays.length) {
            this.d.log.error({ user, kind, err: String(e), attempts: n + 1 }, 'gave up re-establishing presence state');
            this.d.onGaveUp(kind, user, e);
            return;
          }
          this.d.log.warn({ user, kind, err: String(e), attempt: n + 1 }, 're-establishing presence state failed; will retry');
          this.attempt(kind, user, key, n + 1);
        },
      );
    });
    this.pending.set(key, () => {
      cancelled = true;
      cancelTimer();
    });
  }

  /** turn runs fn once fewer than maxConcurrent attempts are running, and frees the turn when fn settles. */
  private turn(fn: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const start = () => {
        this.running++;
        fn().then(resolve, reject).finally(() => {
          this.running--;
          this.waiting.shift()?.();
        });
      };
      if (this.running < this.maxConcurrent) start();
      else this.waiting.push(start);
    });
  }
}
