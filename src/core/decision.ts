/**
 * The claim's identifying step: was the user using an application server's resources at the instant the presence
 * server sent the NOTIFY? Pure; the store supplies the flows, the caller supplies the instant.
 */
import type { FlowRecord, PresenceNotification } from './ports.ts';

/** Decision is the outcome of identifying: reconnect (with the server to bring the user back to) or tear down. */
export type Decision =
  | { readonly branch: 'reconnect'; readonly appServer: string | null; readonly flowId: string; readonly reason: string }
  | { readonly branch: 'teardown'; readonly reason: string };

/**
 * decide says a user was in use at `at` when some flow had started at or before `at` and had not ended more than
 * graceMs before it (an open flow, a flow that ended after `at`, or one that ended within the grace period). The
 * server to reconnect to is that of the latest-started such flow whose server is known (for a span, its latest
 * stream started by `at`: latestStart); open flows win over ended ones. Flows that started after `at` are ignored: they could not have been seen by the NOTIFY.
 */
export function decide(flows: readonly FlowRecord[], at: number, graceMs: number): Decision {
  const inUse = flows.filter((f) => f.startedAt <= at && (f.endedAt === null || f.endedAt >= at - graceMs));
  if (inUse.length === 0) {
    const later = flows.filter((f) => f.startedAt > at).length;
    return {
      branch: 'teardown',
      reason: `no flow open at ${iso(at)} nor ended within ${graceMs} ms before it` + (later ? ` (${later} flow(s) started after it)` : ''),
    };
  }
  const ranked = [...inUse].sort((a, b) => rank(b) - rank(a) || latestStart(b, at) - latestStart(a, at));
  const best = ranked.find((f) => f.appServer !== null) ?? ranked[0]!;
  const open = best.endedAt === null || best.endedAt >= at;
  return {
    branch: 'reconnect',
    appServer: best.appServer,
    flowId: best.id,
    reason: open
      ? `flow ${best.id} to ${best.appServer ?? 'an unknown server'} was open at ${iso(at)}`
      : `flow ${best.id} to ${best.appServer ?? 'an unknown server'} ended ${at - best.endedAt!} ms before ${iso(at)}, within the ${graceMs} ms grace period`,
  };
}

function rank(f: FlowRecord): number {
  return f.endedAt === null ? 1 : 0;
}

/**
 * latestStart is when the flow's latest stream that the NOTIFY could have seen started: a stream's start, a span's
 * latest start (FlowRecord.lastStartedAt), or `at` for a span with streams started on both sides of it (one of
 * them started by `at`, and as late as `at` at the latest).
 */
function latestStart(f: FlowRecord, at: number): number {
  return Math.min(f.lastStartedAt ?? f.startedAt, at);
}

/**
 * notifyInstant is the instant a NOTIFY was sent. A Date header (RFC 3261 section 20.17) has whole seconds, so the
 * NOTIFY left at some point within that second: the end of the second is taken, never later than arrival. When the
 * NOTIFY has no Date header, its arrival time is used. Erring late means a flow that ended just before the sending
 * still counts, which errs towards keeping a user's resources rather than purging an active user.
 */
export function notifyInstant(n: Pick<PresenceNotification, 'sentAt' | 'receivedAt'>): number {
  if (n.sentAt === null || !Number.isFinite(n.sentAt)) return n.receivedAt;
  const endOfSecond = Math.floor(n.sentAt / 1000) * 1000 + 999;
  return Math.min(endOfSecond, n.receivedAt);
}

function iso(t: number): string {
  return new Date(t).toISOString();
}
