/**
 * In-process fakes of the core's ports, for the core's unit tests only (integration tests use the real peers).
 * Every call is appended to one shared `calls` log so tests can assert the order of the claim's steps.
 */
import { PlbError } from '../errors.ts';
import type { AppServer, Clock, DecisionRecord, FlowEndReason, FlowRecord, FlowStore, Logger, PinRecord, PresenceClient, PurgeCounts, RoutePublisher, UserRecord } from '../ports.ts';
import type { UserId } from '../user-id.ts';

/** ManualClock is a Clock whose time moves only when advance() is called. */
export class ManualClock implements Clock {
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const d of due) d.fn();
  }
}

/** FakePresence records calls; failing[method] makes that method reject; hold[method] makes it wait for release(). */
export class FakePresence implements PresenceClient {
  connected = true;
  failing = new Set<string>();
  private held = new Map<string, Array<() => void>>();
  holding = new Set<string>();
  constructor(private readonly calls: string[]) {}
  release(method: string): void {
    for (const r of this.held.get(method) ?? []) r();
    this.held.delete(method);
    this.holding.delete(method);
  }
  private async call(method: string, user: UserId, extra = ''): Promise<void> {
    this.calls.push(`presence.${method}${extra}`);
    if (this.holding.has(method)) await new Promise<void>((r) => this.held.set(method, [...(this.held.get(method) ?? []), r]));
    if (this.failing.has(method)) throw new PlbError('PRESENCE_UNAVAILABLE', `${method} failed for ${user}`);
  }
  register = (u: UserId) => this.call('register', u);
  publish = (u: UserId, s: AppServer | null) => this.call('publish', u, `(${s?.name ?? 'none'})`);
  subscribe = (u: UserId) => this.call('subscribe', u);
  sendReconnect = (u: UserId, s: AppServer) => this.call('sendReconnect', u, `(${s.name})`);
  unsubscribe = (u: UserId) => this.call('unsubscribe', u);
  unpublish = (u: UserId) => this.call('unpublish', u);
  unregister = (u: UserId) => this.call('unregister', u);
}

/** MemoryStore is an in-memory FlowStore. */
export class MemoryStore implements FlowStore {
  users = new Map<UserId, UserRecord>();
  flows = new Map<string, FlowRecord>();
  decisions: DecisionRecord[] = [];
  pins = new Map<UserId, PinRecord>();
  constructor(private readonly calls: string[]) {}
  async upsertUser(r: UserRecord) { this.users.set(r.user, r); }
  async getUser(u: UserId) { return this.users.get(u) ?? null; }
  async listUsers() { return [...this.users.values()]; }
  async insertFlow(f: FlowRecord) { this.calls.push(`store.insertFlow(${f.id})`); this.flows.set(f.id, f); }
  async setFlowAppServer(id: string, s: string) { const f = this.flows.get(id); if (f) this.flows.set(id, { ...f, appServer: s }); }
  async endFlow(id: string, at: number, reason: FlowEndReason) { const f = this.flows.get(id); if (f) this.flows.set(id, { ...f, endedAt: at, endReason: reason }); }
  async flowsOverlapping(u: UserId, since: number) { return [...this.flows.values()].filter((f) => f.user === u && (f.endedAt === null || f.endedAt >= since)); }
  async closeOpenFlows(at: number, reason: FlowEndReason) { let n = 0; for (const [id, f] of this.flows) if (f.endedAt === null) { this.flows.set(id, { ...f, endedAt: at, endReason: reason }); n++; } return n; }
  async pruneFlows(before: number, limit: number) {
    const old = [...this.flows.values()].filter((f) => f.endedAt !== null && f.endedAt < before).sort((x, y) => x.endedAt! - y.endedAt!).slice(0, limit);
    for (const f of old) this.flows.delete(f.id);
    return old.length;
  }
  async recordDecision(d: DecisionRecord) { this.decisions.push(d); }
  async savePin(p: PinRecord) { this.pins.set(p.user, p); }
  async deletePin(u: UserId) { this.pins.delete(u); }
  async listPins() { return [...this.pins.values()]; }
  async purgeUser(u: UserId): Promise<PurgeCounts> {
    this.calls.push('store.purgeUser');
    const flows = [...this.flows.values()].filter((f) => f.user === u);
    for (const f of flows) this.flows.delete(f.id);
    const d = this.decisions.filter((x) => x.user === u).length;
    this.decisions = this.decisions.filter((x) => x.user !== u);
    const users = this.users.delete(u) ? 1 : 0;
    const pins = this.pins.delete(u) ? 1 : 0;
    return { users, flows: flows.length, decisions: d, pins };
  }
  async close() {}
}

/** FakeRoutes records pins and unpins. */
export class FakeRoutes implements RoutePublisher {
  version = 0;
  pinned = new Map<UserId, PinRecord>();
  constructor(private readonly calls: string[]) {}
  async pin(p: PinRecord) { this.calls.push(`routes.pin(${p.appServer})`); this.pinned.set(p.user, p); return { version: String(++this.version) }; }
  async unpin(u: UserId) { this.calls.push('routes.unpin'); this.pinned.delete(u); return { version: String(++this.version) }; }
}

/** MemoryLogger keeps log lines for assertions. */
export class MemoryLogger implements Logger {
  lines: Array<{ level: string; obj: object; msg?: string }> = [];
  debug(obj: object, msg?: string) { this.lines.push({ level: 'debug', obj, msg }); }
  info(obj: object, msg?: string) { this.lines.push({ level: 'info', obj, msg }); }
  warn(obj: object, msg?: string) { this.lines.push({ level: 'warn', obj, msg }); }
  error(obj: object, msg?: string) { this.lines.push({ level: 'error', obj, msg }); }
  child(): Logger { return this; }
}
