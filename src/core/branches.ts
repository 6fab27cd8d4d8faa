/**
 * ClaimBranches are the two ways claim 1 ends for a user, once the identifying step has decided (lifecycle.ts runs
 * them in the user's queue):
 *   reconnect  route update (RoutePublisher) → MESSAGE carrying the UUID; when the reconnect window is over, an
 *              outcome: reconnected (flows resumed), or teardown when presence still says the user is gone, or the
 *              route update withdrawn;
 *   teardown   unsubscribe → unpublish → unregister → purge.
 * Pure like the rest of the core: it acts through the ports only.
 */
import type { Decision } from './decision.ts';
import type { FlowIndex } from './flow-index.ts';
import type { KeyedQueue } from './keyed-queue.ts';
import type { LifecycleOptions, Session } from './lifecycle-types.ts';
import type { AppServer, PinRecord, PurgeCounts } from './ports.ts';
import { presenceVerdict, snapshotFromFingerprint, type PresenceInterpretation } from './presence-change.ts';
import type { SessionState } from './session.ts';
import type { StepRunner } from './step-runner.ts';
import type { UserId } from './user-id.ts';

/** BranchContext is the Lifecycle state the branches share with it. */
export interface BranchContext {
  readonly o: LifecycleOptions;
  readonly fx: StepRunner;
  readonly index: FlowIndex;
  readonly sessions: Map<UserId, Session>;
  readonly queue: KeyedQueue<UserId>;
  readonly servers: ReadonlyMap<string, AppServer>;
  readonly interpretation: PresenceInterpretation;
  /** move is the Lifecycle's one way to change a session's state (the state machine, and onAccess). */
  readonly move: (s: Session, to: SessionState) => void;
}

/** ClaimBranches runs the reconnect and teardown branches for a Lifecycle. */
export class ClaimBranches {
  constructor(private readonly c: BranchContext) {}

  /** reconnect takes the reconnect branch from deciding; it resolves true when the route update was published. */
  async reconnect(user: UserId, s: Session, d: Extract<Decision, { branch: 'reconnect' }>): Promise<boolean> {
    this.c.move(s, 'reconnecting');
    const server = d.appServer ? this.c.servers.get(d.appServer) : undefined;
    if (!server) {
      this.c.o.log.warn({ user, appServer: d.appServer }, 'in use, but its application server is unknown: no reconnect message or route update');
      this.c.move(s, 'tracking');
      return false;
    }
    // The route update first, then the MESSAGE: a device that reconnects as soon as the MESSAGE reaches it must find
    // the route to its server already in force.
    const now = this.c.o.clock.now();
    const pin: PinRecord = { user, appServer: server.name, createdAt: now, expiresAt: now + this.c.o.reconnectWindowMs };
    s.pinCreatedAt = now;
    // The pin is saved (so a restart restores it) while it is published: a slow database write does not hold the
    // route update back. Both are done before the MESSAGE.
    const saved = this.c.fx.store('savePin', user, () => this.c.o.store.savePin(pin));
    const published = await this.c.fx.step('route_update', user, async () => {
      const { version } = await this.c.o.routes.pin(pin);
      return { version, appServer: server.name, expiresAt: pin.expiresAt };
    });
    await saved;
    await this.c.fx.step('reconnect_message', user, () => this.c.o.presence.sendReconnect(user, server), { appServer: server.name });
    s.cancelPinTimer?.();
    s.cancelPinTimer = this.c.o.clock.setTimer(this.c.o.reconnectWindowMs, () => this.windowOver(user));
    return published;
  }

  /**
   * windowOver ends a reconnect window with an outcome: `reconnected` when the user's flows resumed (a flow started
   * during the window, or one is still open); otherwise, if presence still says the user is gone (the last presence
   * seen, judged at the window's end: presenceVerdict), the claim's teardown branch runs; if not, the route update is
   * withdrawn and the user stays tracked.
   */
  windowOver(user: UserId): void {
    void this.c.queue.run(user, async () => {
      const s = this.c.sessions.get(user);
      if (!s || s.state !== 'reconnecting') return;
      s.cancelPinTimer = null;
      const since = s.pinCreatedAt ?? this.c.o.clock.now();
      await this.c.o.flowsSettled?.({ readFlows: true, user });
      const flows = this.c.index.overlapping(user, since, this.c.o.clock.now()) ?? (await this.c.o.store.flowsOverlapping(user, since).catch(() => null));
      // A span's latest start: a stream that started in the window may have joined a span begun before it.
      const resumed = flows !== null && flows.some((f) => (f.lastStartedAt ?? f.startedAt) >= since || f.endedAt === null);
      const verdict = presenceVerdict(snapshotFromFingerprint(s.fingerprint), this.c.o.clock.now(), this.c.interpretation);
      const gone = verdict.gone;
      const outcome = resumed ? 'reconnected' : gone ? 'not_resumed_presence_gone' : 'not_resumed_presence_available';
      this.c.fx.emit('reconnect_outcome', user, resumed, { outcome, windowMs: this.c.o.reconnectWindowMs, presence: verdict.reason });
      if (!resumed && gone && flows !== null) {
        await this.tearDown(user, s);
        return;
      }
      await this.unpin(user);
      s.pinCreatedAt = null;
      this.c.move(s, 'tracking');
      await this.c.fx.persist(user, s);
    });
  }

  async unpin(user: UserId): Promise<void> {
    await this.c.fx.step('route_withdrawn', user, async () => ({ version: (await this.c.o.routes.unpin(user)).version }));
    await this.c.fx.store('deletePin', user, () => this.c.o.store.deletePin(user));
  }

  /**
   * tearDown: unsubscribe, withdraw the publication, unregister, then purge every row about the user. It resolves
   * with the rows purged per table, or null when the purge failed.
   */
  async tearDown(user: UserId, s: Session): Promise<PurgeCounts | null> {
    const wasPinned = s.state === 'reconnecting' || s.cancelPinTimer !== null;
    this.c.move(s, 'tearing_down');
    // The data path has heard that the user is no longer granted at once before presencelb withdraws anything: from
    // here on the user's requests wait for the lifecycle (flowsSettled answers after that news, see lifecycle-types).
    await this.c.o.flowsSettled?.({ readFlows: false, user });
    s.cancelPinTimer?.();
    s.cancelPinTimer = null;
    if (wasPinned) await this.unpin(user);
    await this.withdrawPresence(user);
    let counts: PurgeCounts | null = null;
    await this.c.fx.step('purge', user, async () => ({ rows: (counts = await this.c.o.store.purgeUser(user)) }));
    if (counts) this.c.index.forget(user);
    this.c.move(s, 'gone');
    this.c.sessions.delete(user);
    return counts;
  }

  async withdrawPresence(user: UserId): Promise<void> {
    await this.c.fx.step('unsubscribe', user, () => this.c.o.presence.unsubscribe(user));
    await this.c.fx.step('unpublish', user, () => this.c.o.presence.unpublish(user));
    await this.c.fx.step('unregister', user, () => this.c.o.presence.unregister(user));
  }
}
