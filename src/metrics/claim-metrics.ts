/**
 * ClaimMetrics turns the lifecycle's events into what presencelb's metrics count, without knowing the metrics
 * library (a ClaimMetricsSink receives the results). Pure: no I/O, no timers.
 *
 * - Steps: every event counts once by step and result (ok or failed).
 * - Decisions: a decision (an identify event) counts once its branch ends, by branch and outcome: `completed` when
 *   the branch's last step succeeded (reconnect: reconnect_message; teardown: purge) and no step between failed;
 *   `failed` when it ended after a failed step; `abandoned` when the next decision for the user came first (e.g. a
 *   reconnect for a user whose application server is unknown, which takes no step).
 * - NOTIFY-to-decision latency: from the receipt of a NOTIFY to the decision it led to (an identify whose instant
 *   is not after that receipt); decisions without a NOTIFY (operator requests, lost subscriptions) are not measured.
 */
import type { LifecycleEvent } from '../core/lifecycle-events.ts';

/** ClaimMetricsSink receives what ClaimMetrics derives. */
export interface ClaimMetricsSink {
  step(step: string, ok: boolean): void;
  decision(branch: string, outcome: 'completed' | 'failed' | 'abandoned'): void;
  notifyToDecision(seconds: number): void;
}

interface Pending {
  readonly branch: string;
  failed: boolean;
}

const LAST_STEP: Readonly<Record<string, string>> = { reconnect: 'reconnect_message', teardown: 'purge' };

/** ClaimMetrics is a lifecycle observer; it keeps at most one small record per user with a decision under way. */
export class ClaimMetrics {
  private readonly pending = new Map<string, Pending>();
  private readonly received = new Map<string, number>();

  constructor(private readonly sink: ClaimMetricsSink) {}

  /** observe takes one lifecycle event (pass it to Lifecycle.observe). */
  observe(e: LifecycleEvent): void {
    this.sink.step(e.step, e.ok);
    const d = e.detail ?? {};
    if (e.step === 'receive_notification' && e.ok && typeof d.receivedAt === 'number') {
      this.received.set(e.user, d.receivedAt);
      return;
    }
    if (e.step === 'identify' && typeof d.branch === 'string') {
      const before = this.pending.get(e.user);
      if (before) this.sink.decision(before.branch, before.failed ? 'failed' : 'abandoned');
      this.pending.set(e.user, { branch: d.branch, failed: false });
      const receivedAt = this.received.get(e.user);
      this.received.delete(e.user);
      if (receivedAt !== undefined && typeof d.notifySentAt === 'number' && d.notifySentAt <= receivedAt) {
        this.sink.notifyToDecision(Math.max(0, e.at - receivedAt) / 1000);
      }
      return;
    }
    const p = this.pending.get(e.user);
    if (!p) return;
    if (!e.ok) p.failed = true;
    if (LAST_STEP[p.branch] === e.step) {
      this.pending.delete(e.user);
      this.sink.decision(p.branch, p.failed ? 'failed' : 'completed');
    }
    if (e.step === 'purge') this.received.delete(e.user);
  }
}
