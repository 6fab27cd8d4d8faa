/**
 * Which NOTIFYs are presence changes. presencelb's own tuple is part of every tracked user's merged presence
 * document; a NOTIFY whose other tuples are the same as before (for instance one caused by presencelb's own
 * PUBLISH refresh) is not a change of the user's presence and must not trigger a decision.
 */
import type { PresenceNotification, PresenceTuple } from './ports.ts';
import { OWN_TUPLE_ID } from './presence.ts';

/** NotifyKind classifies a NOTIFY against the presence last seen for the user. */
export type NotifyKind = 'baseline' | 'unchanged' | 'changed' | 'terminated' | 'invalid';

/** Classified is a NOTIFY's kind and the fingerprint of the others' tuples it carried (null when invalid). */
export interface Classified {
  readonly kind: NotifyKind;
  readonly fingerprint: string | null;
  readonly others: readonly PresenceTuple[];
}

/** othersTuples drops presencelb's own tuple and orders the rest by id, so documents compare by content. */
export function othersTuples(tuples: readonly PresenceTuple[]): PresenceTuple[] {
  return tuples
    .filter((t) => t.id !== OWN_TUPLE_ID)
    .map((t) => ({ id: t.id, basic: t.basic, note: t.note }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * classifyNotify: a body that did not parse is 'invalid' (nothing changes); a terminated subscription is
 * 'terminated'; the first NOTIFY of a subscription is the 'baseline'; afterwards, a NOTIFY is 'changed' when the
 * other parties' tuples differ from the previous fingerprint and 'unchanged' otherwise. An empty body counts as a
 * document with no tuples.
 */
export function classifyNotify(previous: string | null, n: PresenceNotification): Classified {
  if (n.bodyError !== null) return { kind: 'invalid', fingerprint: null, others: [] };
  const others = othersTuples(n.document?.tuples ?? []);
  const fingerprint = JSON.stringify(others);
  if (n.subscription.state === 'terminated') return { kind: 'terminated', fingerprint, others };
  if (previous === null) return { kind: 'baseline', fingerprint, others };
  return { kind: fingerprint === previous ? 'unchanged' : 'changed', fingerprint, others };
}

/** TerminationPolicy is what a terminated subscription means for the user's lifecycle. */
export type TerminationPolicy = 'presentity_gone' | 'adapter_retries';

/**
 * terminationPolicy reads a Subscription-State termination reason (RFC 6665 section 4.1.3, RFC 3265 reasons):
 * `rejected`, `noresource` and `invariant` mean the presentity is gone and lead to the claim's teardown;
 * `deactivated`, `timeout` (re-subscribe at once), `probation`, `giveup` (re-subscribe after retry-after) and a
 * missing or unknown reason are retried by the presence adapter, which reports a subscription it could not
 * restore through PresenceSink.onSubscriptionLost.
 */
export function terminationPolicy(reason: string | null): TerminationPolicy {
  return reason === 'rejected' || reason === 'noresource' || reason === 'invariant' ? 'presentity_gone' : 'adapter_retries';
}

/**
 * presenceSaysGone interprets the other parties' tuples (presencelb's own excluded): the user is gone when no tuple
 * has basic status `open` — every device closed, or no device publishing at all. A tuple without a basic status
 * does not count as open.
 */
export function presenceSaysGone(others: readonly PresenceTuple[]): boolean {
  return !others.some((t) => t.basic === 'open');
}

/** othersFromFingerprint recovers the tuples a fingerprint was made from (null or unparsable: no tuples). */
export function othersFromFingerprint(fingerprint: string | null): PresenceTuple[] {
  if (!fingerprint) return [];
  try {
    const v = JSON.parse(fingerprint) as unknown;
    return Array.isArray(v) ? (v as PresenceTuple[]) : [];
  } catch {
    return [];
  }
}
