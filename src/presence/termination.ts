/**
 * What the adapter does when the presence server terminates a subscription with a NOTIFY (RFC 6665 section
 * 4.1.3, the reasons registered by RFC 3265 section 3.2.4). The NOTIFY itself always goes to the sink, reason
 * included; this decides only whether the adapter subscribes again, and when. Pure.
 *
 *   deactivated, timeout        re-subscribe at once ("SHOULD re-subscribe immediately")
 *   probation, giveup           re-subscribe after retry-after seconds (RETRY_LATER_MS when it is absent)
 *   rejected, noresource,       final: no new subscription ("SHOULD NOT attempt to re-subscribe"); the core
 *   invariant                   tears the user down on this NOTIFY
 *   none or unknown             re-subscribe, after retry-after if given ("MAY attempt to re-subscribe at any time")
 *
 * A presence server that terminates every new subscription again would make this a loop: FlapGuard allows at most
 * MAX_RESUBSCRIBES re-subscriptions per user within FLAP_WINDOW_MS, then the adapter gives the subscription up.
 */
import type { SubscriptionState } from '../core/ports.ts';

/** RETRY_LATER_MS is the wait after probation or giveup without retry-after. */
export const RETRY_LATER_MS = 5000;

/** TerminationAction is what the adapter does about one terminated subscription. */
export type TerminationAction = { readonly resubscribe: false } | { readonly resubscribe: true; readonly afterMs: number };

const FINAL = new Set(['rejected', 'noresource', 'invariant']);
const LATER = new Set(['probation', 'giveup']);

/** terminationAction reads a terminated Subscription-State. */
export function terminationAction(state: SubscriptionState): TerminationAction {
  const reason = state.reason;
  if (reason !== null && FINAL.has(reason)) return { resubscribe: false };
  const retryAfterMs = state.retryAfter !== null ? state.retryAfter * 1000 : null;
  if (reason !== null && LATER.has(reason)) return { resubscribe: true, afterMs: retryAfterMs ?? RETRY_LATER_MS };
  if (reason === 'deactivated' || reason === 'timeout') return { resubscribe: true, afterMs: 0 };
  return { resubscribe: true, afterMs: retryAfterMs ?? 0 };
}

/** MAX_RESUBSCRIBES and FLAP_WINDOW_MS bound re-subscriptions after terminations, per user. */
export const MAX_RESUBSCRIBES = 5;
export const FLAP_WINDOW_MS = 60000;

/** FlapGuard counts re-subscriptions after terminations per user over a sliding window. */
export class FlapGuard<K> {
  private readonly seen = new Map<K, number[]>();

  constructor(
    private readonly max = MAX_RESUBSCRIBES,
    private readonly windowMs = FLAP_WINDOW_MS,
  ) {}

  /** allow records one more re-subscription for key at `now` and says whether it stays within the bound. */
  allow(key: K, now: number): boolean {
    const recent = (this.seen.get(key) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    this.seen.set(key, recent);
    return recent.length <= this.max;
  }

  /** forget drops what is known about key (its subscription was withdrawn or given up). */
  forget(key: K): void {
    this.seen.delete(key);
  }
}
