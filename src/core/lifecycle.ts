/**
 * Lifecycle drives claim 1 for every user, through the ports only (no I/O of its own):
 *
 *   first flow:  register → notify (PUBLISH) → provide access (the data path's grant) → subscribe
 *   NOTIFY:      receive → identify (was the user in use when the NOTIFY was sent?) →
 *                  yes: route update + reconnect MESSAGE carrying the UUID, withdrawn after the reconnect window
 *                  no:  unsubscribe → unpublish → unregister → purge
 *                (the two branches are in branches.ts; the flows the identifying step reads, in flow-index.ts)
 *
 * An operator can run either branch for one user now (purgeNow, reconnectNow), queued like any other event.
 *
 * Invariants: one user's events are handled one at a time, in arrival order (KeyedQueue); a request is never held
 * longer than stepTimeoutMs by presence work (it is granted then, and the steps go on); a presence-server or store
 * failure degrades that user (logged, retried on a later flow) and never stops traffic or loses stored rows.
 *
 * The data path's events of a user with nothing queued (a tracked user's flow start, any flow's upstream or end)
 * skip the queue: they are handled at once, in memory, and their flow write is issued without being awaited, so
 * the request path never waits on the database. This keeps call order because the store orders writes by call
 * (the app's store is a WriteBehindStore: writes are queued at call time, and every later read or write waits for
 * them); an event of a user whose queue is busy is queued behind what is there.
 */
import { decide, notifyInstant, type Decision } from './decision.ts';
import type { ErrorCode } from './errors.ts';
import { KeyedQueue } from './keyed-queue.ts';
import type { LifecycleObserver } from './lifecycle-events.ts';
import { ClaimBranches } from './branches.ts';
import { FlowIndex } from './flow-index.ts';
import { StepRunner } from './step-runner.ts';
import type { LifecycleOptions, Session } from './lifecycle-types.ts';
import type { AppServer, FlowEndReason, FlowRecord, PinRecord, PresenceNotification, PresenceSink, PurgeCounts } from './ports.ts';
import { classifyNotify, DEFAULT_PRESENCE_INTERPRETATION, terminationPolicy, type PresenceInterpretation } from './presence-change.ts';
import { fail, ok, type Result } from './result.ts';
import { grantsAtOnce, transition, type SessionState } from './session.ts';
import type { UserId } from './user-id.ts';

/** FlowStart is what the data path knows when a request's headers arrive. */
export interface FlowStart {
  readonly id: string;
  readonly user: UserId;
  readonly appServer: string | null;
  readonly startedAt: number;
  /**
   * streams and lastStartedAt are set on a flow reported whole (flowRecorded) that the data path held before it
   * reported it (src/dataplane/span-hold.ts): a span of completed streams, or a single one, as FlowRecord's.
   */
  readonly streams?: number;
  readonly lastStartedAt?: number;
  /**
   * held is set on a flow start (flowStarted) the data path held while its request ran and released still open
   * (span-hold.ts): the user was granted at once when it started. Like a held span, it is old use: recorded at once
   * even while the user's queue is busy, and it never sets the user up again.
   */
  readonly held?: true;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60000;

/** Lifecycle is the presence-driven core; it is the PresenceSink of the presence adapter. */
export class Lifecycle implements PresenceSink {
  private readonly sessions = new Map<UserId, Session>();
  private readonly queue = new KeyedQueue<UserId>();
  private readonly servers: ReadonlyMap<string, AppServer>;
  private readonly fx: StepRunner;
  /** index answers the identifying step from memory (flow-index.ts); the store is read when it cannot. */
  private readonly index: FlowIndex;
  private readonly interpretation: PresenceInterpretation;
  private readonly branches: ClaimBranches;

  constructor(private readonly o: LifecycleOptions) {
    this.servers = new Map(o.appServers.map((s) => [s.name, s]));
    this.interpretation = o.presenceInterpretation ?? DEFAULT_PRESENCE_INTERPRETATION;
    this.fx = new StepRunner(o.store, o.clock, o.log);
    // Ended flows are kept past graceMs for NOTIFYs that are handled late (a busy queue, a Date header a second old).
    // Completed streams of a user to one server, pauses of at most graceMs, are one span (flow-index.ts).
    this.index = new FlowIndex(o.graceMs + 30000, o.graceMs);
    this.branches = new ClaimBranches({ o, fx: this.fx, index: this.index, sessions: this.sessions, queue: this.queue, servers: this.servers, interpretation: this.interpretation, move: (s, to) => this.move(s, to) });
  }

  /** observe adds an observer of every claim step; the returned function removes it. */
  observe(fn: LifecycleObserver): () => void {
    return this.fx.observe(fn);
  }

  /** session returns a copy of a user's live session, or undefined. */
  session(user: UserId): Readonly<Session> | undefined {
    const s = this.sessions.get(user);
    return s && { ...s };
  }

  /** userCount is the number of users with a live session. */
  get userCount(): number {
    return this.sessions.size;
  }

  /**
   * flowStarted records a flow and, on a user's first flow, takes the claim's first steps. grant lets the request
   * through; it is called exactly once: at once for a tracked user, after register and notify for a new one (or
   * after stepTimeoutMs, whichever is first).
   */
  flowStarted(flow: FlowStart, grant: () => void): void {
    const existing = this.sessions.get(flow.user);
    const setup = this.needsSetup(existing);
    if (flow.held && !setup) {
      grant();
      const record: FlowRecord = { id: flow.id, user: flow.user, appServer: flow.appServer, startedAt: flow.startedAt, endedAt: null, endReason: null };
      this.index.started(record);
      return this.recordAtOnce(record);
    }
    this.index.started({ ...flow, endedAt: null, endReason: null });
    if (!setup && !this.queue.busy(flow.user)) {
      // The request path of a known user with nothing queued: in memory and synchronous, the flow's row is only
      // handed to the store (see the class comment: the store orders writes by call and does not make us wait).
      if (flow.appServer) existing!.appServer = flow.appServer;
      grant();
      this.fx.write('insertFlow', flow.user, () => this.o.store.insertFlow({ ...flow, endedAt: null, endReason: null }));
      return;
    }
    const grantOnce = once(grant);
    if (!setup) grantOnce();
    const s = existing ?? this.newSession(flow.user, flow.appServer);
    if (flow.appServer) s.appServer = flow.appServer;
    let cancel = () => {};
    if (setup) {
      if (existing) existing.retryAt = Number.POSITIVE_INFINITY; // a setup is queued: later flows take the fast path
      cancel = this.o.clock.setTimer(this.o.stepTimeoutMs, () => {
        this.o.log.warn({ user: flow.user, timeoutMs: this.o.stepTimeoutMs }, 'presence steps slow: request let through before they completed');
        grantOnce();
      });
    }
    void this.queue.run(flow.user, async () => {
      await this.fx.store('insertFlow', flow.user, () => this.o.store.insertFlow({ ...flow, endedAt: null, endReason: null }));
      const cur = this.sessions.get(flow.user);
      if (setup || !cur) await this.setUp(cur ?? this.newSession(flow.user, flow.appServer), grantOnce);
      grantOnce();
      cancel();
    });
  }

  /** needsSetup: a flow of this user takes the claim's first steps (a new user, or a degraded one due for a retry). */
  private needsSetup(existing: Session | undefined): boolean {
    return !existing || (existing.state === 'degraded' && this.o.clock.now() >= existing.retryAt);
  }

  /**
   * flowRecorded records a flow reported whole once it ended (FlowSink.flowRecorded). A tracked user's, with nothing
   * queued, is one index entry and one row handed to the store; any other goes through flowStarted and flowEnded,
   * whose queued step sets the user up again if a teardown ran meanwhile: a request during a teardown is new use.
   *
   * Except one the data path held (flow.streams set): it completed while the user was granted at once, and the data
   * path releases it before it hears of any change of that (a decision, a teardown) and before it answers
   * flowsSettled. So it is recorded at once even while the user's queue is busy: in the index before the decision
   * reads it, and in the store before any purge that follows in call order. It is old use, not new: it never sets
   * the user up again after a teardown.
   */
  flowRecorded(flow: FlowStart, endedAt: number, reason: FlowEndReason): void {
    const existing = this.sessions.get(flow.user);
    const setup = this.needsSetup(existing);
    const busy = this.queue.busy(flow.user);
    if (setup || (busy && flow.streams === undefined)) {
      this.flowStarted(flow, noop);
      this.flowEnded(flow.id, flow.user, endedAt, reason);
      return;
    }
    // Literal shapes (a spread of the start gives objects of varying shapes, slower to index).
    const record: FlowRecord =
      flow.streams === undefined
        ? { id: flow.id, user: flow.user, appServer: flow.appServer, startedAt: flow.startedAt, endedAt, endReason: reason }
        : { id: flow.id, user: flow.user, appServer: flow.appServer, startedAt: flow.startedAt, endedAt, endReason: reason, streams: flow.streams, lastStartedAt: flow.lastStartedAt ?? flow.startedAt };
    this.index.recorded(record);
    this.recordAtOnce(record);
  }

  /**
   * recordAtOnce hands a flow's row to the store and takes the user's server from it, at once even while the user's
   * queue is busy (a flow the data path held, or one reported whole with nothing queued; the store orders writes by
   * call). The caller has put the flow in the index (started for an open flow, recorded for a completed one), and
   * the user has a session.
   */
  private recordAtOnce(record: FlowRecord): void {
    this.fx.write('insertFlow', record.user, () => this.o.store.insertFlow(record));
    const server = record.appServer;
    if (!server) return;
    // A session changes only in its user's queue: while that is busy, its server is set there.
    if (!this.queue.busy(record.user)) this.sessions.get(record.user)!.appServer = server;
    else
      void this.queue.run(record.user, async () => {
        const s = this.sessions.get(record.user);
        if (s) s.appServer = server;
      });
  }

  /** flowUpstream records which application server Envoy sent a flow to. */
  flowUpstream(flowId: string, user: UserId, appServer: string): void {
    this.index.upstream(flowId, user, appServer);
    if (!this.queue.busy(user)) {
      this.fx.write('setFlowAppServer', user, () => this.o.store.setFlowAppServer(flowId, appServer));
      const s = this.sessions.get(user);
      if (s) s.appServer = appServer;
      return;
    }
    void this.queue.run(user, async () => {
      await this.fx.store('setFlowAppServer', user, () => this.o.store.setFlowAppServer(flowId, appServer));
      const s = this.sessions.get(user);
      if (s) s.appServer = appServer;
    });
  }

  /** flowEnded records the end of a flow. */
  flowEnded(flowId: string, user: UserId, endedAt: number, reason: FlowEndReason): void {
    this.index.ended(flowId, user, endedAt, reason);
    if (!this.queue.busy(user)) return this.fx.write('endFlow', user, () => this.o.store.endFlow(flowId, endedAt, reason));
    void this.queue.run(user, () => this.fx.store('endFlow', user, () => this.o.store.endFlow(flowId, endedAt, reason)));
  }

  /** onNotify takes a NOTIFY from the presence adapter; it is handled in the user's queue. */
  onNotify(n: PresenceNotification): void {
    if (!this.sessions.has(n.user)) {
      this.o.log.warn({ user: n.user, code: 'NOTIFY_UNKNOWN_PRESENTITY' satisfies ErrorCode }, 'NOTIFY for a user presencelb does not track: ignored');
      return;
    }
    void this.queue.run(n.user, () => this.handleNotify(n));
  }

  /**
   * onSubscriptionLost: NOTIFYs for the user will not come any more, so the claim's decision is taken now, with the
   * best information held (the stored flows at this instant), and the log says so.
   */
  onSubscriptionLost(user: UserId, reason: string): void {
    if (!this.sessions.has(user)) return;
    void this.queue.run(user, () => this.decideWithoutNotify(user, `subscription lost: ${reason}`));
  }

  /**
   * sweep applies the claim's decision to every tracked user whose subscription has been silent for longer than
   * staleNotifyMs (a presence server refreshes each subscription with a NOTIFY well within that). It does nothing
   * while the presence server is unreachable: an outage purges nobody. Returns how many users it swept.
   */
  sweep(): number {
    const now = this.o.clock.now();
    this.index.prune(now);
    if (!this.o.presence.connected) return 0;
    let n = 0;
    for (const s of this.sessions.values()) {
      if ((s.state === 'tracking' || s.state === 'reconnecting') && now - s.lastNotifyAt > this.o.staleNotifyMs) {
        n++;
        s.lastNotifyAt = now;
        void this.queue.run(s.user, () => this.decideWithoutNotify(s.user, `no NOTIFY for more than ${this.o.staleNotifyMs} ms`));
      }
    }
    return n;
  }

  /**
   * restore rebuilds sessions after a restart: flows left open are closed (reason presencelb_restart), every stored
   * user is registered, published and subscribed again, and route updates still in force get their remaining
   * window. It returns the pins still in force, for the first xDS snapshot.
   */
  async restore(): Promise<PinRecord[]> {
    const now = this.o.clock.now();
    const closed = await this.o.store.closeOpenFlows(now, 'presencelb_restart');
    const users = await this.o.store.listUsers();
    const pins = await this.o.store.listPins();
    const live: PinRecord[] = [];
    for (const pin of pins) {
      if (pin.expiresAt > now) live.push(pin);
      else await this.fx.store('deletePin', pin.user, () => this.o.store.deletePin(pin.user));
    }
    for (const u of users) {
      const s = this.newSession(u.user, u.appServer);
      s.createdAt = u.createdAt;
      const pin = live.find((p) => p.user === u.user);
      void this.queue.run(u.user, async () => {
        await this.setUp(s, () => {});
        if (pin && s.state === 'tracking') {
          this.move(s, 'reconnecting');
          s.pinCreatedAt = pin.createdAt;
          s.cancelPinTimer = this.o.clock.setTimer(pin.expiresAt - this.o.clock.now(), () => this.branches.windowOver(u.user));
        }
      });
    }
    // Every flow open before now is closed in the store: from now on the index sees every flow event.
    this.index.authoritativeFrom(now);
    this.o.log.info({ users: users.length, pins: live.length, closedFlows: closed }, 'state restored from the store');
    return live;
  }

  /**
   * shutdown withdraws what presencelb holds at the presence server for every user (unsubscribe, unpublish,
   * unregister) without purging the store, so a restart can restore them, and closes open flows.
   */
  async shutdown(): Promise<void> {
    const users = [...this.sessions.keys()];
    await Promise.all(
      users.map((user) =>
        this.queue.run(user, async () => {
          const s = this.sessions.get(user);
          if (!s) return;
          s.cancelPinTimer?.();
          await this.branches.withdrawPresence(user);
        }),
      ),
    );
    await this.queue.idle();
    await this.o.store.closeOpenFlows(this.o.clock.now(), 'shutdown');
  }

  /**
   * purgeNow runs the claim's teardown branch for a tracked user on an operator's request, in the user's queue
   * (after what is queued already): an identify event saying so, then unsubscribe, unpublish, unregister, purge.
   * It fails with USER_NOT_FOUND when the user is not tracked when its turn comes, and with STORE_FAILED when the
   * purge failed (the presence state is withdrawn and the session gone either way, as in the claim's branch).
   */
  purgeNow(user: UserId): Promise<Result<PurgeCounts>> {
    return this.queue.run(user, async (): Promise<Result<PurgeCounts>> => {
      const s = this.sessions.get(user);
      if (!s) return fail({ code: 'USER_NOT_FOUND', path: 'uuid', message: `user ${user} is not tracked` });
      this.fx.emit('identify', user, true, { branch: 'teardown', reason: 'purge requested through the admin API', notifySentAt: this.o.clock.now() });
      const counts = await this.branches.tearDown(user, s);
      return counts ? ok(counts) : fail({ code: 'STORE_FAILED', path: '', message: `purging the rows of ${user} failed (see the log)` });
    });
  }

  /**
   * reconnectNow runs the claim's reconnect branch for a tracked user on an operator's request, in the user's
   * queue: a decision recorded, the reconnect MESSAGE and a route update to the server of the user's most recent
   * flow, in force for reconnectWindowMs. It fails with USER_NOT_FOUND (not tracked), ILLEGAL_TRANSITION (neither
   * tracking nor reconnecting, e.g. degraded), UNKNOWN_APP_SERVER (no configured server known for the user) or
   * SNAPSHOT_INCONSISTENT (the route update could not be published); otherwise it resolves with the route update in
   * force. A reconnect MESSAGE the presence server or device refuses does not fail it (as in the claim's branch).
   */
  reconnectNow(user: UserId): Promise<Result<PinRecord>> {
    return this.queue.run(user, async (): Promise<Result<PinRecord>> => {
      const s = this.sessions.get(user);
      if (!s) return fail({ code: 'USER_NOT_FOUND', path: 'uuid', message: `user ${user} is not tracked` });
      if (s.state !== 'tracking' && s.state !== 'reconnecting') {
        return fail({ code: 'ILLEGAL_TRANSITION', path: 'uuid', message: `user ${user} is ${s.state}: only a tracking or reconnecting user can be reconnected` });
      }
      const appServer = s.appServer && this.servers.has(s.appServer) ? s.appServer : null;
      if (!appServer) return fail({ code: 'UNKNOWN_APP_SERVER', path: 'uuid', message: `no configured application server is known for user ${user}` });
      const done = await this.act(s, this.o.clock.now(), { branch: 'reconnect', appServer, flowId: '', reason: `reconnect to ${appServer} requested through the admin API` });
      if (!done || s.pinCreatedAt === null) return fail({ code: 'SNAPSHOT_INCONSISTENT', path: '', message: `the route update for user ${user} was not published (see the log)` });
      return ok({ user, appServer, createdAt: s.pinCreatedAt, expiresAt: s.pinCreatedAt + this.o.reconnectWindowMs });
    });
  }

  /** idle resolves when every queued event has been handled (for tests and shutdown). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private newSession(user: UserId, appServer: string | null): Session {
    const now = this.o.clock.now();
    const s: Session = { user, state: 'registering', fingerprint: null, appServer, retryAt: 0, retryDelayMs: RETRY_MIN_MS, cancelPinTimer: null, pinCreatedAt: null, lastNotifyAt: now, createdAt: now };
    this.sessions.set(user, s);
    return s;
  }

  /** move changes a session's state as the state machine allows, and tells onAccess when grantsAtOnce changes. */
  private move(s: Session, to: SessionState): void {
    const before = grantsAtOnce(s.state);
    s.state = transition(s.state, to);
    if (grantsAtOnce(to) !== before) this.o.onAccess?.(s.user, !before);
  }

  /** setUp takes the claim's register, notify, provide-access and subscribe steps, in that order. */
  private async setUp(s: Session, grant: () => void): Promise<void> {
    const user = s.user;
    if (s.state === 'degraded') this.move(s, 'registering');
    await this.fx.persist(user, s);
    if (!(await this.fx.step('register', user, () => this.o.presence.register(user)))) return this.degrade(user, s, grant);
    this.move(s, 'publishing');
    const server = s.appServer ? (this.servers.get(s.appServer) ?? null) : null;
    if (!(await this.fx.step('notify', user, () => this.o.presence.publish(user, server), { appServer: s.appServer }))) return this.degrade(user, s, grant);
    grant();
    this.fx.emit('provide_access', user, true, { appServer: s.appServer });
    this.move(s, 'subscribing');
    s.fingerprint = null;
    if (!(await this.fx.step('subscribe', user, () => this.o.presence.subscribe(user)))) return this.degrade(user, s, grant);
    this.move(s, 'tracking');
    s.lastNotifyAt = this.o.clock.now();
    s.retryDelayMs = RETRY_MIN_MS;
    await this.fx.persist(user, s);
  }

  private async degrade(user: UserId, s: Session, grant: () => void): Promise<void> {
    grant();
    this.move(s, 'degraded');
    s.retryAt = this.o.clock.now() + s.retryDelayMs;
    this.o.log.warn({ user, retryInMs: s.retryDelayMs }, 'presence steps failed: user degraded, retried on a later flow');
    s.retryDelayMs = Math.min(s.retryDelayMs * 2, RETRY_MAX_MS);
    await this.fx.persist(user, s);
  }

  private async handleNotify(n: PresenceNotification): Promise<void> {
    const s = this.sessions.get(n.user);
    if (!s) return;
    s.lastNotifyAt = this.o.clock.now();
    const c = classifyNotify(s.fingerprint, n, this.interpretation);
    this.fx.emit('receive_notification', n.user, c.kind !== 'invalid', {
      kind: c.kind,
      sentAt: n.sentAt,
      receivedAt: n.receivedAt,
      subscription: n.subscription.state,
      ...(n.subscription.reason ? { reason: n.subscription.reason } : {}),
      ...(n.bodyError ? { bodyError: n.bodyError } : {}),
      ...(c.verdict ? { presenceGone: c.verdict.gone, presence: c.verdict.reason } : {}),
    }, c.kind === 'invalid' ? 'PIDF_INVALID' : undefined);
    if (c.kind === 'invalid') return;
    if (c.kind === 'unchanged') {
      // Same presence, but the latest RPID details (and idle starts) are what later verdicts read.
      s.fingerprint = c.fingerprint;
      return;
    }
    if (c.kind === 'terminated') {
      // The fingerprint is kept: the NOTIFY after a re-subscribe is compared with the presence seen before.
      if (terminationPolicy(n.subscription.reason) === 'adapter_retries') return;
      if (s.state !== 'tracking' && s.state !== 'reconnecting') return;
      await this.act(s, notifyInstant(n), { branch: 'teardown', reason: `subscription terminated (${n.subscription.reason}): the presentity is gone` });
      return;
    }
    s.fingerprint = c.fingerprint;
    if (c.kind === 'baseline') return this.fx.persist(n.user, s, c.fingerprint);
    if (s.state !== 'tracking' && s.state !== 'reconnecting') {
      this.o.log.info({ user: n.user, state: s.state }, 'presence change while not tracking: no decision');
      return;
    }
    await this.fx.persist(n.user, s, c.fingerprint);
    await this.act(s, notifyInstant(n));
  }

  /** decideWithoutNotify takes the claim's decision now, for a user whose NOTIFYs stopped; a reconnect re-subscribes. */
  private async decideWithoutNotify(user: UserId, why: string): Promise<void> {
    const s = this.sessions.get(user);
    if (!s || (s.state !== 'tracking' && s.state !== 'reconnecting')) return;
    this.o.log.warn({ user, why }, 'deciding without a NOTIFY, with the best information held (stored flows at this instant)');
    await this.act(s, this.o.clock.now());
    if (this.sessions.get(user) === s && (s.state as SessionState) !== 'gone') await this.resubscribe(user, s);
  }

  /**
   * act is the claim's identifying step and what follows it: decide from the stored flows at instant `at` (unless a
   * decision is imposed), record it, then reconnect or tear down. It resolves true when the branch completed (the
   * route update was published, or the user's rows were purged).
   */
  private async act(s: Session, at: number, imposed?: Decision): Promise<boolean> {
    const user = s.user;
    this.move(s, 'deciding');
    let d = imposed;
    if (!d) {
      await this.o.flowsSettled?.({ readFlows: true, user });
      const flows = this.index.overlapping(user, at - this.o.graceMs, this.o.clock.now()) ?? await this.o.store.flowsOverlapping(user, at - this.o.graceMs).catch((e) => {
        this.o.log.error({ user, code: 'STORE_FAILED', err: String(e) }, 'cannot read flows: decision postponed');
        return null;
      });
      if (flows === null) {
        this.move(s, s.cancelPinTimer ? 'reconnecting' : 'tracking');
        return false;
      }
      d = decide(flows, at, this.o.graceMs);
    }
    this.fx.emit('identify', user, true, { branch: d.branch, reason: d.reason, notifySentAt: at });
    const decision = d;
    // Recorded while the branch goes on (a slow database write does not hold a route update back); the teardown
    // waits for it, so that its purge deletes the decision too.
    const recorded = this.fx.store('recordDecision', user, () =>
      this.o.store.recordDecision({ user, decidedAt: this.o.clock.now(), notifySentAt: at, branch: decision.branch, appServer: decision.branch === 'reconnect' ? decision.appServer : null, reason: decision.reason }),
    );
    if (d.branch === 'teardown') {
      await recorded;
      return (await this.branches.tearDown(user, s)) !== null;
    }
    const published = await this.branches.reconnect(user, s, d);
    await recorded;
    await this.fx.persist(user, s);
    return published;
  }

  private async resubscribe(user: UserId, s: Session): Promise<void> {
    await this.fx.step('subscribe', user, () => this.o.presence.subscribe(user), { again: true });
  }


}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

function noop(): void {}
