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
