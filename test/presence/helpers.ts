/** Small test doubles for the presence adapter's tests: a real clock, a recording logger and a recording sink. */
import { randomUUID } from 'node:crypto';
import type { Clock, Logger, PresenceNotification, PresenceSink } from '../../src/core/ports.ts';
import { parseUserId, type UserId } from '../../src/core/user-id.ts';
import { SipPresenceClient } from '../../src/presence/sip-presence-client.ts';
import type { SipPresenceClientOptions } from '../../src/presence/sip-presence-client-options.ts';
import { waitFor } from '../harness/ports.ts';

/** DOMAIN is the SIP domain the tests use. */
export const DOMAIN = 'presencelb.test';

/** realClock is the wall clock with setTimeout timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** LogEntry is one recorded log call. */
export interface LogEntry {
  readonly level: string;
  readonly obj: object;
  readonly msg?: string;
}

/** recordingLogger keeps every entry (children included) in one array, for assertions and failure reports. */
export function recordingLogger(entries: LogEntry[] = [], bindings: Record<string, unknown> = {}): Logger & { entries: LogEntry[] } {
  const at = (level: string) => (obj: object, msg?: string) => {
    entries.push({ level, obj: { ...bindings, ...obj }, msg });
  };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => recordingLogger(entries, { ...bindings, ...b }),
  };
}

/** RecordingSink keeps every notification and every lost subscription, and can wait for them. */
export class RecordingSink implements PresenceSink {
  readonly received: PresenceNotification[] = [];
  readonly lost: Array<{ readonly user: UserId; readonly reason: string }> = [];
  onNotify(n: PresenceNotification): void {
    this.received.push(n);
  }
  onSubscriptionLost(user: UserId, reason: string): void {
    this.lost.push({ user, reason });
  }
  /** forUser lists the notifications for one user in arrival order. */
  forUser(user: UserId): PresenceNotification[] {
    return this.received.filter((n) => n.user === user);
  }
  /** waitFor resolves with the first notification for user that satisfies pred. */
  waitFor(user: UserId, pred: (n: PresenceNotification) => boolean, what: string, timeoutMs = 5000): Promise<PresenceNotification> {
    return waitFor(what, () => this.forUser(user).find(pred), timeoutMs, 10);
  }
}

/** newUser returns a fresh random UserId. */
export function newUser(): UserId {
  const r = parseUserId(randomUUID());
  if (!r.ok) throw new Error('randomUUID gave no UUID');
  return r.value;
}

/** makeClient builds a client for url (ws, wss, tcp or tls) with test defaults; the caller starts and stops it. */
export function makeClient(url: string, over: Partial<SipPresenceClientOptions> = {}) {
  const sink = new RecordingSink();
  const log = recordingLogger();
  const client = new SipPresenceClient({
    url,
    domain: DOMAIN,
    registerExpiresSec: 300,
    publishExpiresSec: 300,
    subscribeExpiresSec: 300,
    opTimeoutMs: 5000,
    sink,
    clock: realClock,
    log,
    ...over,
  });
  return { client, sink, log };
}

/** tuple finds a tuple by id in a notification's document. */
export function tuple(n: PresenceNotification, id: string) {
  return n.document?.tuples.find((t) => t.id === id);
}
