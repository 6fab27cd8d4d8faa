/**
 * PIDF (RFC 3863, application/pidf+xml): building presencelb's own one-tuple document and parsing the
 * documents a presence server sends, which merge every publisher's tuples (Kamailio presence_xml) and may use any
 * namespace prefix. Parsing is lenient about what presencelb does not need (unknown elements, extensions, notes
 * in other languages, tuples without status) and strict about what it does: a well-formed XML document whose root
 * is <presence> with an entity, and an id on every tuple. The RPID (RFC 4480) and data-model (RFC 4479) elements
 * presencelb interprets are read by rpid.ts, which never fails: unreadable RPID is left out, never an error.
 * Pure functions; fast-xml-parser does the XML.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import type { PresenceDocument, PresenceTuple } from '../core/ports.ts';
import { fail, ok, type FieldError, type Result } from '../core/result.ts';
import { asArray, deviceIdOf, isRecord, readDeviceInputs, readPersons, readRpid, readTimestamp, textOf } from './rpid.ts';

/** PIDF_NS is the PIDF namespace (RFC 3863 section 4.1). */
export const PIDF_NS = 'urn:ietf:params:xml:ns:pidf';

/** PIDF_CONTENT_TYPE is the MIME type of PIDF bodies. */
export const PIDF_CONTENT_TYPE = 'application/pidf+xml';

/** PidfTupleSpec is everything presencelb writes into a tuple. */
export interface PidfTupleSpec {
  readonly id: string;
  readonly basic: 'open' | 'closed';
  readonly note?: string | null;
  /** contact is the tuple's <contact> URI (RFC 3863 section 4.1.5), omitted when absent. */
  readonly contact?: string | null;
  /** timestamp is written as <timestamp> (ISO 8601, UTC) when given, in ms since the epoch. */
  readonly timestamp?: number | null;
}

/** PidfDocumentSpec is a presentity and its tuples, in document order. */
export interface PidfDocumentSpec {
  readonly entity: string;
  readonly tuples: readonly PidfTupleSpec[];
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
});

/**
 * buildPidf renders a PIDF document. Element order inside a tuple follows the RFC 3863 schema (status, contact,
 * note, timestamp); text and attribute values are XML-escaped by the builder.
 */
export function buildPidf(doc: PidfDocumentSpec): string {
  const tuples = doc.tuples.map((t) => {
    const tuple: Record<string, unknown> = { '@_id': t.id, status: { basic: t.basic } };
    if (t.contact) tuple.contact = t.contact;
    if (t.note) tuple.note = t.note;
    if (t.timestamp !== undefined && t.timestamp !== null) tuple.timestamp = new Date(t.timestamp).toISOString();
    return tuple;
  });
  const xml = builder.build({ presence: { '@_xmlns': PIDF_NS, '@_entity': doc.entity, tuple: tuples } }) as string;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

const ARRAY_TAGS = new Set(['tuple', 'note', 'basic', 'status']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name, _jpath, _leaf, isAttribute) => !isAttribute && ARRAY_TAGS.has(name),
});

/** parsePidf parses a PIDF body; every problem is reported with code PIDF_INVALID and a field path. */
export function parsePidf(xml: string): Result<PresenceDocument> {
  const err = (path: string, message: string): FieldError => ({ code: 'PIDF_INVALID', path, message });
  if (typeof xml !== 'string' || xml.trim() === '') return fail(err('', 'empty body'));
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return fail(err('', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`));
  }
  let tree: Record<string, unknown>;
  try {
    tree = parser.parse(xml) as Record<string, unknown>;
  } catch (e) {
    return fail(err('', `XML parser failed: ${e instanceof Error ? e.message : String(e)}`));
  }
  const roots = Object.keys(tree);
  const presence = tree.presence;
  if (roots.length !== 1 || !isRecord(presence)) {
    return fail(err('', `root element must be <presence>, found ${roots.map((r) => `<${r}>`).join(', ') || 'none'}`));
  }
  const errors: FieldError[] = [];
  const entity = presence['@_entity'];
  if (typeof entity !== 'string' || entity.trim() === '') errors.push(err('entity', 'presence element has no entity attribute'));
  const tuples: PresenceTuple[] = [];
  const deviceInputs = readDeviceInputs(presence);
  asArray(presence.tuple).forEach((raw, i) => {
    const t = isRecord(raw) ? raw : {};
    const id = t['@_id'];
    if (typeof id !== 'string' || id === '') {
      errors.push(err(`tuples[${i}].id`, 'tuple has no id attribute'));
      return;
    }
    const status = asArray(t.status)[0];
    const basicText = isRecord(status) ? textOf(asArray(status.basic)[0]) : null;
    const basic = basicText === 'open' || basicText === 'closed' ? basicText : null;
    const note = asArray(t.note).map(textOf).find((n): n is string => n !== null && n !== '') ?? null;
    const timestamp = readTimestamp(t);
    const rpid = readRpid([status, t]);
    const deviceId = deviceIdOf(t);
    const userInput = rpid.userInput ?? (deviceId !== null ? deviceInputs.get(deviceId) : undefined);
    tuples.push({
      id,
      basic,
      note,
      ...(timestamp !== null ? { timestamp } : {}),
      ...(rpid.activities ? { activities: rpid.activities } : {}),
      ...(userInput ? { userInput } : {}),
    });
  });
  if (errors.length > 0) return fail(...errors);
  const persons = readPersons(presence);
  return ok({ entity: (entity as string).trim(), tuples, ...(persons.length > 0 ? { persons } : {}) });
}
