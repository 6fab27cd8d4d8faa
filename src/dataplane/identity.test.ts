import test from 'ava';
import type { WireHeader, WireMetadata, WireValue } from './headers.ts';
import { identityOf, type IdentitySettings } from './identity.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50';
const JWT: IdentitySettings = { source: 'jwt', header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' };
const HEADER: IdentitySettings = { ...JWT, source: 'header' };

const h = (key: string, value: string): WireHeader => ({ key, raw_value: Buffer.from(value, 'latin1') });
/** valueOf is a google.protobuf.Value as proto-loader decodes it (a number has no field in WireValue: cast). */
const valueOf = (v: unknown): WireValue => (typeof v === 'string' ? { kind: 'string_value', string_value: v } : ({ kind: 'number_value', number_value: v } as WireValue));
/** payload builds the metadata Envoy forwards, in the {key, value} list shape the descriptor image decodes maps to. */
const payload = (fields: Record<string, unknown> | null, ns = JWT.jwtMetadataNamespace, key = JWT.jwtPayloadKey): WireMetadata => ({
  filter_metadata: [
    {
      key: ns,
      value: {
        fields: fields === null ? [] : [{ key, value: { kind: 'struct_value', struct_value: { fields: Object.entries(fields).map(([k, v]) => ({ key: k, value: valueOf(v) })) } } }],
      },
    },
  ],
});

const cases: Array<[string, IdentitySettings, { headers?: WireHeader[]; metadata?: WireMetadata }, string]> = [
  ['jwt: the sub of the verified payload', JWT, { metadata: payload({ sub: U, iss: 'x' }) }, U],
  ['jwt: an upper-case sub is canonicalised', JWT, { metadata: payload({ sub: U.toUpperCase() }) }, U],
  ['jwt: the header is never read', JWT, { headers: [h('x-user-id', U)] }, 'IDENTITY_MISSING'],
  ['jwt: the header does not override the payload', JWT, { headers: [h('x-user-id', '11111111-1111-1111-1111-111111111111')], metadata: payload({ sub: U }) }, U],
  ['jwt: no payload in the namespace', JWT, { metadata: payload(null) }, 'IDENTITY_MISSING'],
  ['jwt: a payload in another namespace', JWT, { metadata: payload({ sub: U }, 'somebody.else') }, 'IDENTITY_MISSING'],
  ['jwt: a payload under another key', JWT, { metadata: payload({ sub: U }, JWT.jwtMetadataNamespace, 'other') }, 'IDENTITY_MISSING'],
  ['jwt: no sub', JWT, { metadata: payload({ iss: 'x' }) }, 'IDENTITY_MISSING'],
  ['jwt: sub not a string', JWT, { metadata: payload({ sub: 42 }) }, 'IDENTITY_MALFORMED'],
  ['jwt: sub not a UUID', JWT, { metadata: payload({ sub: 'alice' }) }, 'IDENTITY_MALFORMED'],
  ['jwt: sub with CR/LF', JWT, { metadata: payload({ sub: `${U}\r\n` }) }, 'IDENTITY_MALFORMED'],
  ['jwt: sub oversized', JWT, { metadata: payload({ sub: 'a'.repeat(10000) }) }, 'IDENTITY_MALFORMED'],
  ['header: one UUID', HEADER, { headers: [h('x-user-id', U)] }, U],
  ['header: metadata is never read', HEADER, { metadata: payload({ sub: U }) }, 'IDENTITY_MISSING'],
  ['header: two copies', HEADER, { headers: [h('x-user-id', U), h('x-user-id', U)] }, 'IDENTITY_AMBIGUOUS'],
  ['header: not a UUID', HEADER, { headers: [h('x-user-id', 'alice')] }, 'IDENTITY_MALFORMED'],
  ['header: a bare CR', HEADER, { headers: [h('x-user-id', `${U}\r`)] }, 'IDENTITY_MALFORMED'],
  ['header: oversized', HEADER, { headers: [h('x-user-id', 'a'.repeat(5000))] }, 'IDENTITY_MALFORMED'],
];

for (const [title, settings, input, expected] of cases) {
  test(`identityOf: ${title}`, (t) => {
    const r = identityOf(settings, input);
    if (r.ok) t.is(r.value as string, expected);
    else {
      t.is(r.errors[0]!.code as string, expected, r.errors[0]!.message);
      for (const e of r.errors) t.false(e.message.includes('alice') || e.message.includes('aaaa'), 'the value is never echoed');
    }
  });
}
