/**
 * RPID (RFC 4480) and the presence data model (RFC 4479) inside a parsed PIDF tree: <rpid:activities> and
 * <rpid:user-input> in a tuple (in its <status> or directly in it), in <dm:person> and in <dm:device>, and the
 * <timestamp> of tuples and persons. Elements are matched by local name, whatever their namespace prefix, as
 * pidf.ts matches PIDF's own (the tree comes from its parser, with prefixes removed).
 *
 * Contract: these readers never fail. RPID is optional information; an element presencelb cannot read (an unknown
 * user-input value, an activities element that names no activity, an unreadable date or number in an attribute) is
 * left out, and an unreadable attribute is ignored alone, so a valid PIDF document stays valid whatever its RPID.
 */
import type { PresenceActivities, PresencePerson, PresenceUserInput } from '../core/ports.ts';

/** A parsed element: fast-xml-parser's object form (attributes as '@_name', text as '#text') or plain text. */
type Node = Record<string, unknown>;

/** RpidParts is what a tuple, a person or a device carries that presencelb reads. */
export interface RpidParts {
  readonly activities?: readonly PresenceActivities[];
  readonly userInput?: PresenceUserInput;
}

/**
 * readRpid reads the <activities> and the first readable <user-input> of the given containers (for a tuple: its
 * <status> and the tuple itself), activities in container order. Absent fields mean nothing readable was there.
 */
export function readRpid(containers: readonly unknown[]): RpidParts {
  const nodes = containers.filter(isRecord);
  const activities = nodes.flatMap((c) => asArray(c.activities).map(readActivities)).filter((a): a is PresenceActivities => a !== null);
  const userInput = nodes.flatMap((c) => asArray(c['user-input']).map(readUserInput)).find((u): u is PresenceUserInput => u !== null);
  return { ...(activities.length > 0 ? { activities } : {}), ...(userInput ? { userInput } : {}) };
}

/**
 * readPersons reads every <dm:person> of the <presence> element (a merged document has one per publisher that sent
 * one) and keeps those that carry activities or user-input.
 */
export function readPersons(presence: Node): PresencePerson[] {
  const persons: PresencePerson[] = [];
  for (const raw of asArray(presence.person)) {
    if (!isRecord(raw)) continue;
    const rpid = readRpid([raw]);
    if (!rpid.activities && !rpid.userInput) continue;
    const id = raw['@_id'];
    const timestamp = readTimestamp(raw);
    persons.push({ id: typeof id === 'string' && id !== '' ? id : null, ...rpid, ...(timestamp !== null ? { timestamp } : {}) });
  }
  return persons;
}

/**
 * readDeviceInputs maps each <dm:device>'s <dm:deviceID> to its readable <rpid:user-input>, so that a tuple naming
 * the device gets it (RFC 4479 section 3.4). The first device with an id wins.
 */
export function readDeviceInputs(presence: Node): ReadonlyMap<string, PresenceUserInput> {
  const byId = new Map<string, PresenceUserInput>();
  for (const raw of asArray(presence.device)) {
    if (!isRecord(raw)) continue;
    const id = deviceIdOf(raw);
    const input = readRpid([raw]).userInput;
    if (id !== null && input && !byId.has(id)) byId.set(id, input);
  }
  return byId;
}

/** deviceIdOf is the text of an element's first <dm:deviceID>, or null. */
export function deviceIdOf(node: Node): string | null {
  const id = textOf(asArray(node.deviceID)[0]);
  return id ? id : null;
}

/** readTimestamp is the element's first <timestamp> as ms since the epoch, or null when absent or unreadable. */
export function readTimestamp(node: Node): number | null {
  return parseDateTime(textOf(asArray(node.timestamp)[0]));
}

/** Children of <activities> that are not activities (RFC 4480 section 3.2 lets <note> come first). */
const NOT_ACTIVITIES = new Set(['note', '#text']);

function readActivities(raw: unknown): PresenceActivities | null {
  if (!isRecord(raw)) return null;
  const names = Object.keys(raw).filter((k) => !k.startsWith('@_') && !NOT_ACTIVITIES.has(k));
  if (names.length === 0) return null;
  const other = asArray(raw.other).map(textOf).filter((s): s is string => s !== null && s !== '');
  const from = parseDateTime(attr(raw, 'from'));
  const until = parseDateTime(attr(raw, 'until'));
  return { names, other, ...(from !== null ? { from } : {}), ...(until !== null ? { until } : {}) };
}

function readUserInput(raw: unknown): PresenceUserInput | null {
  const value = textOf(raw);
  if (value !== 'active' && value !== 'idle') return null;
  if (!isRecord(raw)) return { value };
  const threshold = attr(raw, 'idle-threshold');
  const idleThresholdSec = threshold !== null && /^\d{1,9}$/.test(threshold) && Number(threshold) > 0 ? Number(threshold) : null;
  const lastInput = parseDateTime(attr(raw, 'last-input'));
  return { value, ...(idleThresholdSec !== null ? { idleThresholdSec } : {}), ...(lastInput !== null ? { lastInput } : {}) };
}

/** An xs:dateTime (RFC 3339 profile); one without a time zone is read as UTC. */
const DATE_TIME = /^((\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?$/;

/** parseDateTime reads an xs:dateTime into ms since the epoch; anything else, a day that does not exist included, is null. */
export function parseDateTime(s: string | null): number | null {
  const m = s === null ? null : DATE_TIME.exec(s.trim());
  if (!m) return null;
  const [year, month, day] = [Number(m[2]), Number(m[3]), Number(m[4])];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null;
  const ms = Date.parse(`${m[1]}${m[5] ?? 'Z'}`);
  return Number.isFinite(ms) ? ms : null;
}

function attr(node: Node, name: string): string | null {
  const v = node[`@_${name}`];
  return typeof v === 'string' ? v.trim() : null;
}

/** isRecord: the parser's form of an element with children or attributes. */
export function isRecord(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** asArray: the parser gives one child as a value and repeated children as an array. */
export function asArray(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** textOf returns an element's text whether the parser gave a plain string or an object with attributes. */
export function textOf(v: unknown): string | null {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (isRecord(v) && v['#text'] !== undefined) return String(v['#text']).trim();
  return null;
}
