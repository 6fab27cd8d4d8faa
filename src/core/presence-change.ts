/**
 * Which NOTIFYs are presence changes, and what the other parties' presence says. presencelb's own tuple is part of
 * every tracked user's merged presence document; a NOTIFY whose other tuples are the same as before (for instance
 * one caused by presencelb's own PUBLISH refresh) is not a change of the user's presence and must not trigger a
 * decision. The interpretation rules (presenceVerdict) are described in ARCHITECTURE.md, "Reading presence".
 * Pure functions: the instant and the rules are always passed in.
 */
import { notifyInstant } from './decision.ts';
import type { PresenceActivities, PresenceDocument, PresenceNotification, PresencePerson, PresenceTuple, PresenceUserInput } from './ports.ts';
import { OWN_TUPLE_ID } from './presence.ts';

/** NotifyKind classifies a NOTIFY against the presence last seen for the user. */
export type NotifyKind = 'baseline' | 'unchanged' | 'changed' | 'terminated' | 'invalid';

/** PresenceInterpretation is the configurable part of the rules (config presence.interpretation). */
export interface PresenceInterpretation {
  /** goneActivities are the RPID activity names that say the user is gone (RFC 4480 section 3.2 element names). */
  readonly goneActivities: readonly string[];
  /** idleGoneAfterMs: user input idle for at least this long says the user is gone; null never does. */
  readonly idleGoneAfterMs: number | null;
}

/**
 * DEFAULT_GONE_ACTIVITIES are the RFC 4480 activities that mean a long absence. Short absences and being busy
 * (away, meal, meeting, on-the-phone, in-transit, …) are not among them: a user who steps away with flows open
 * must not be torn down.
 */
export const DEFAULT_GONE_ACTIVITIES: readonly string[] = ['sleeping', 'vacation', 'holiday', 'permanent-absence'];

/** DEFAULT_IDLE_GONE_AFTER_MS is one hour without user input. */
export const DEFAULT_IDLE_GONE_AFTER_MS = 3_600_000;

/** DEFAULT_PRESENCE_INTERPRETATION is what an empty config gives. */
export const DEFAULT_PRESENCE_INTERPRETATION: PresenceInterpretation = Object.freeze({
  goneActivities: DEFAULT_GONE_ACTIVITIES,
  idleGoneAfterMs: DEFAULT_IDLE_GONE_AFTER_MS,
});

/**
 * SeenTuple is another party's tuple as presencelb keeps it. idleSince, set only while its user-input says idle,
 * is when that idleness began as best known: the last-input attribute; else the tuple's timestamp (or, without
 * one, the instant the NOTIFY was sent) less idle-threshold; and never later than an idleSince already held for
 * the same tuple while it stayed idle, so a repeated document does not restart the count.
 */
export interface SeenTuple extends PresenceTuple {
  readonly idleSince?: number;
}

/** SeenPerson is a person element as presencelb keeps it; idleSince as for SeenTuple. */
export interface SeenPerson extends PresencePerson {
  readonly idleSince?: number;
}

/**
 * PresenceSnapshot is what presencelb keeps of a user's presence between NOTIFYs: the other parties' tuples (by id)
 * and the person elements, and whether they said the user is gone at the instant the NOTIFY was sent.
 */
export interface PresenceSnapshot {
  readonly tuples: readonly SeenTuple[];
  readonly persons: readonly SeenPerson[];
  readonly gone: boolean;
}

/** PresenceVerdict is the interpretation at one instant, with a reason for the log. */
export interface PresenceVerdict {
  readonly gone: boolean;
  readonly reason: string;
}

/**
 * Classified is a NOTIFY's kind and the snapshot it carried, as JSON (fingerprint; null when invalid), with its
 * verdict (null when invalid).
 */
export interface Classified {
  readonly kind: NotifyKind;
  readonly fingerprint: string | null;
  readonly others: readonly PresenceTuple[];
  readonly verdict: PresenceVerdict | null;
}

/** othersTuples drops presencelb's own tuple and orders the rest by id, so documents compare by content. */
export function othersTuples(tuples: readonly PresenceTuple[]): PresenceTuple[] {
  return tuples.filter((t) => t.id !== OWN_TUPLE_ID).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * classifyNotify: a body that did not parse is 'invalid' (nothing changes); a terminated subscription is
 * 'terminated'; the first NOTIFY of a subscription is the 'baseline'; afterwards, a NOTIFY is 'changed' when the
 * other parties' tuples differ from the previous snapshot in id, basic status or note, or when the verdict
 * (gone or not, at the NOTIFY's instant) differs from the previous one, and 'unchanged' otherwise. So RPID alone
 * (activities, user-input) and timestamps change nothing unless they flip the verdict. An empty body counts as a
 * document with no tuples.
 */
export function classifyNotify(previous: string | null, n: PresenceNotification, rules: PresenceInterpretation = DEFAULT_PRESENCE_INTERPRETATION): Classified {
  if (n.bodyError !== null) return { kind: 'invalid', fingerprint: null, others: [], verdict: null };
  const at = notifyInstant(n);
  const before = snapshotFromFingerprint(previous);
  const { snapshot, verdict } = observePresence(n.document, at, rules, before);
  const fingerprint = JSON.stringify(snapshot);
  const c = { fingerprint, others: snapshot.tuples, verdict };
  if (n.subscription.state === 'terminated') return { kind: 'terminated', ...c };
  if (previous === null) return { kind: 'baseline', ...c };
  return { kind: before !== null && changeKey(before) === changeKey(snapshot) ? 'unchanged' : 'changed', ...c };
}

/**
 * observePresence builds the snapshot of a received document (presencelb's own tuple left out) at instant `at`,
 * carrying idle starts over from the snapshot before, and judges it at that instant.
 */
export function observePresence(
  doc: PresenceDocument | null,
  at: number,
  rules: PresenceInterpretation,
  before: PresenceSnapshot | null = null,
): { snapshot: PresenceSnapshot; verdict: PresenceVerdict } {
  const tuples = othersTuples(doc?.tuples ?? []).map((t): SeenTuple => {
    const idleSince = idleSinceOf(t.userInput, t.timestamp, at, before?.tuples.find((p) => p.id === t.id)?.idleSince);
    return idleSince === undefined ? t : { ...t, idleSince };
  });
  const persons = (doc?.persons ?? []).map((p, i): SeenPerson => {
    const held = before?.persons.find((q, j) => personKey(q, j) === personKey(p, i))?.idleSince;
    const idleSince = idleSinceOf(p.userInput, p.timestamp, at, held);
    return idleSince === undefined ? p : { ...p, idleSince };
  });
  const verdict = presenceVerdict({ tuples, persons }, at, rules);
  return { snapshot: { tuples, persons, gone: verdict.gone }, verdict };
}

/**
 * presenceVerdict interprets the other parties' presence (presencelb's own tuple already left out) at instant `at`.
 * The user is gone when no tuple has basic status `open` (a tuple without a basic status does not count as open),
 * or when every open tuple says the user is away, which an open tuple does when
 *   - a gone activity (rules.goneActivities) is in effect for it: its own activities (in its <status> or in the
 *     tuple; `unknown` and those outside their from/until say nothing), or, when it has none, those of any person
 *     element; or
 *   - rules.idleGoneAfterMs is set, no person element says user-input `active`, and its user-input (its own, else
 *     its device's, else the person elements': the most recent idle start counts, and none when one says
 *     `active`) has said `idle` since at least idleGoneAfterMs before `at`.
 * An open tuple without any RPID is therefore never away: basic `open` alone means present. A null snapshot (no
 * NOTIFY seen yet) has no tuples: gone.
 */
export function presenceVerdict(view: Pick<PresenceSnapshot, 'tuples' | 'persons'> | null, at: number, rules: PresenceInterpretation): PresenceVerdict {
  const open = (view?.tuples ?? []).filter((t) => t.basic === 'open');
  if (open.length === 0) return { gone: true, reason: 'no other party’s tuple is open' };
  const persons = view?.persons ?? [];
  const personActivities = inEffect(persons.flatMap((p) => p.activities ?? []), at);
  const personInputs = persons.filter((p) => p.userInput !== undefined);
  const personActive = personInputs.some((p) => p.userInput!.value === 'active');
  const personIdleSince = personActive ? null : latest(personInputs.map(idleStart));
  const away: string[] = [];
  for (const t of open) {
    const own = inEffect(t.activities ?? [], at);
    const activities = own.size > 0 ? own : personActivities;
    const activity = rules.goneActivities.find((a) => activities.has(a));
    if (activity !== undefined) {
      away.push(`${t.id}: ${own.size > 0 ? '' : 'person '}activity ${activity}`);
      continue;
    }
    const since = t.userInput ? idleStart(t) : personIdleSince;
    if (rules.idleGoneAfterMs !== null && !personActive && since !== null && at - since >= rules.idleGoneAfterMs) {
      away.push(`${t.id}: ${t.userInput ? '' : 'person '}idle for ${at - since} ms`);
      continue;
    }
    return { gone: false, reason: `tuple ${t.id} is open` };
  }
  return { gone: true, reason: `every open tuple says the user is away (${away.join('; ')})` };
}

/** presenceSaysGone is presenceVerdict(...).gone. */
export function presenceSaysGone(view: Pick<PresenceSnapshot, 'tuples' | 'persons'> | null, at: number, rules: PresenceInterpretation): boolean {
  return presenceVerdict(view, at, rules).gone;
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

/** snapshotFromFingerprint recovers the snapshot a fingerprint was made from (null, unparsable or foreign: null). */
export function snapshotFromFingerprint(fingerprint: string | null): PresenceSnapshot | null {
  if (!fingerprint) return null;
  try {
    const v = JSON.parse(fingerprint) as Partial<PresenceSnapshot> | null;
    if (typeof v !== 'object' || v === null || !Array.isArray(v.tuples)) return null;
    return { tuples: v.tuples, persons: Array.isArray(v.persons) ? v.persons : [], gone: v.gone === true };
  } catch {
    return null;
  }
}

/** changeKey is what a presence change is judged on: ids, basic statuses, notes, and the verdict. */
function changeKey(s: PresenceSnapshot): string {
  return JSON.stringify([s.tuples.map((t) => [t.id, t.basic, t.note]), s.gone]);
}

function personKey(p: PresencePerson, index: number): string {
  return p.id ?? `#${index}`;
}

/** idleSinceOf resolves SeenTuple.idleSince for a user-input seen at `at`; held is the value kept before, if any. */
function idleSinceOf(input: PresenceUserInput | undefined, timestamp: number | undefined, at: number, held: number | undefined): number | undefined {
  if (input?.value !== 'idle') return undefined;
  if (input.lastInput !== undefined) return input.lastInput;
  const since = Math.min(timestamp ?? at, at) - (input.idleThresholdSec ?? 0) * 1000;
  return held !== undefined ? Math.min(held, since) : since;
}

/** idleStart is when a tuple's or person's user-input began to say idle, null when it says active or nothing. */
function idleStart(x: { readonly userInput?: PresenceUserInput; readonly idleSince?: number }): number | null {
  if (x.userInput?.value !== 'idle') return null;
  return x.idleSince ?? x.userInput.lastInput ?? null;
}

function latest(xs: readonly (number | null)[]): number | null {
  const known = xs.filter((x): x is number => x !== null);
  return known.length > 0 ? Math.max(...known) : null;
}

/** inEffect is the set of activity names in effect at `at`, `unknown` left out. */
function inEffect(list: readonly PresenceActivities[], at: number): Set<string> {
  const names = new Set<string>();
  for (const a of list) {
    if ((a.from !== undefined && at < a.from) || (a.until !== undefined && at >= a.until)) continue;
    for (const name of a.names) if (name !== 'unknown') names.add(name);
  }
  return names;
}
