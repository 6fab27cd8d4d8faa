/**
 * FlowRetention keeps the flows table bounded: every intervalMs it deletes the flows that ended more than
 * retentionMs ago (config lifecycle.flowRetentionMs), in statements of at most `batch` rows, so that one run never
 * holds SQLite's single connection for long. Every request is a flow, so without it the table grows by the request
 * rate forever. Open flows are never deleted, whatever their age.
 */
import type { FlowStore, Logger } from '../core/ports.ts';

/** FlowRetentionOptions are fixed at start. */
export interface FlowRetentionOptions {
  readonly store: Pick<FlowStore, 'pruneFlows'>;
  readonly retentionMs: number;
  readonly now: () => number;
  readonly log: Logger;
  /** intervalMs: how often a run starts (60 s). */
  readonly intervalMs?: number;
  /** batch: flows deleted per statement (5,000). */
  readonly batch?: number;
  /** maxBatches: statements per run at most (100); what is left waits for the next run. */
  readonly maxBatches?: number;
}

/** pruneExpiredFlows runs once: deletes flows that ended before now - retentionMs, and returns how many. */
export async function pruneExpiredFlows(o: FlowRetentionOptions): Promise<number> {
  const batch = o.batch ?? 5000;
  const before = o.now() - o.retentionMs;
  let total = 0;
  for (let i = 0; i < (o.maxBatches ?? 100); i++) {
    const n = await o.store.pruneFlows(before, batch);
    total += n;
    if (n < batch) break;
  }
  return total;
}

/**
 * startFlowRetention runs pruneExpiredFlows every intervalMs (one run at a time); stop() ends it, resolving once a
 * run in progress is over (so the store can be closed after it).
 */
export function startFlowRetention(o: FlowRetentionOptions): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = pruneExpiredFlows(o)
      .then((n) => {
        if (n > 0) o.log.info({ deleted: n, retentionMs: o.retentionMs }, 'flows past their retention deleted');
      })
      .catch((e: unknown) => o.log.warn({ code: 'STORE_FAILED', err: String(e) }, 'flows past their retention not deleted: tried again next time'))
      .finally(() => {
        running = null;
      });
  }, o.intervalMs ?? 60000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
