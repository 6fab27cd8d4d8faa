/**
 * StepRunner runs the lifecycle's effects and reports them: each claim step becomes one LifecycleEvent for the
 * observers (ok, or failed with its error code), each store write is attempted once and logged on failure. Nothing
 * here throws: a failed step is a value the lifecycle acts on, never an exception that would stop a user's queue.
 */
import { isPlbError, type ErrorCode } from './errors.ts';
import type { ClaimStep, LifecycleObserver } from './lifecycle-events.ts';
import type { Session } from './lifecycle-types.ts';
import type { Clock, FlowStore, Logger } from './ports.ts';
import type { UserId } from './user-id.ts';

/** StepRunner is owned by one Lifecycle. */
export class StepRunner {
  private readonly observers: LifecycleObserver[] = [];

  constructor(private readonly storePort: FlowStore, private readonly clock: Clock, private readonly log: Logger) {}

  /** observe adds an observer of every claim step; the returned function removes it. */
  observe(fn: LifecycleObserver): () => void {
    this.observers.push(fn);
    return () => {
      const i = this.observers.indexOf(fn);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /** step runs one claim step, emits its event, and reports success; failures are logged, never thrown. */
  async step(step: ClaimStep, user: UserId, fn: () => Promise<unknown>, detail?: Record<string, unknown>): Promise<boolean> {
    try {
      const out = await fn();
      this.emit(step, user, true, { ...detail, ...(out && typeof out === 'object' ? (out as Record<string, unknown>) : {}) });
      return true;
    } catch (e) {
      const code = isPlbError(e) ? e.code : undefined;
      this.emit(step, user, false, { ...detail, error: e instanceof Error ? e.message : String(e) }, code);
      return false;
    }
  }

  /** store runs one store write; a failure is logged with STORE_FAILED and swallowed. */
  async store(op: string, user: UserId, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.storeFailed(op, user, e);
    }
  }

  private storeFailed(op: string, user: UserId, e: unknown): void {
    this.log.error({ user, op, code: 'STORE_FAILED', err: e instanceof Error ? e.message : String(e) }, 'store write failed');
  }

  /**
   * write issues one store write without waiting for it (the store orders writes by call); a failure, whether thrown
   * or a rejection, is logged with STORE_FAILED.
   */
  write(op: string, user: UserId, fn: () => Promise<unknown>): void {
    try {
      fn().catch((e: unknown) => this.storeFailed(op, user, e));
    } catch (e) {
      this.storeFailed(op, user, e);
    }
  }

  /** persist writes the session's current state to the store (nothing once the user is gone). */
  persist(user: UserId, s: Session, presence?: string | null): Promise<void> {
    if (s.state === 'gone') return Promise.resolve();
    return this.store('upsertUser', user, () =>
      this.storePort.upsertUser({ user, state: s.state as Exclude<typeof s.state, 'gone'>, appServer: s.appServer, createdAt: s.createdAt, updatedAt: this.clock.now(), presence: presence ?? s.fingerprint }),
    );
  }

  /** emit tells every observer about one step. */
  emit(step: ClaimStep, user: UserId, ok: boolean, detail?: Record<string, unknown>, code?: ErrorCode): void {
    const e = { step, user, at: this.clock.now(), ok, ...(code ? { code } : {}), ...(detail ? { detail } : {}) };
    for (const fn of this.observers) fn(e);
  }
}
