/** parseUserId: the one way to a UserId; it agrees with the UUID grammar on every input, valid or not. */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { parseUserId } from './user-id.ts';

/** reference is the rule written as a regular expression on the lower-cased input (how parseUserId read it first). */
const reference = (raw: string): string | null => (raw.length === 36 && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(raw.toLowerCase()) ? raw.toLowerCase() : null);

test('a lower-case UUID comes back as it is; upper or mixed case comes back lower-cased', (t) => {
  const u = randomUUID();
  t.deepEqual(parseUserId(u), { ok: true, value: u });
  t.deepEqual(parseUserId(u.toUpperCase()), { ok: true, value: u });
  t.deepEqual(parseUserId(u.slice(0, 10).toUpperCase() + u.slice(10)), { ok: true, value: u });
});

test('refused with a coded error: missing, wrong length, a dash out of place, non-hex, CR/LF, non-ASCII', (t) => {
  const u = randomUUID();
  const code = (raw: unknown) => {
    const r = parseUserId(raw, 'identity');
    return r.ok ? 'ok' : `${r.errors[0]!.code} ${r.errors[0]!.path}`;
  };
  t.is(code(undefined), 'IDENTITY_MISSING identity');
  t.is(code(''), 'IDENTITY_MISSING identity');
  t.is(code(42), 'IDENTITY_MISSING identity');
  t.is(code(`${u} `), 'IDENTITY_MALFORMED identity');
  t.is(code(`{${u.slice(1, 35)}}`), 'IDENTITY_MALFORMED identity');
  t.is(code(`${u.slice(0, 8)}0${u.slice(9)}`), 'IDENTITY_MALFORMED identity'); // no dash at 8
  t.is(code(`${u.slice(0, 7)}-${u.slice(8)}`), 'IDENTITY_MALFORMED identity'); // a dash at 7
  t.is(code(`${u.slice(0, 35)}g`), 'IDENTITY_MALFORMED identity');
  t.is(code(`${u.slice(0, 34)}\r\n`), 'IDENTITY_MALFORMED identity');
  t.is(code(`${u.slice(0, 35)}\u212a`), 'IDENTITY_MALFORMED identity'); // the Kelvin sign lower-cases to 'k'
  t.is(code(`${u.slice(0, 35)}\uff21`), 'IDENTITY_MALFORMED identity'); // a full-width 'A'
});

test('agrees with the regular expression on 20,000 UUIDs with one character changed', (t) => {
  const alphabet = '0123456789abcdefABCDEFgG-xz {}\r\n\u0000\u212a\uff21\u0130';
  let refused = 0;
  for (let i = 0; i < 20000; i++) {
    const u = randomUUID();
    const at = i % 36;
    const raw = u.slice(0, at) + alphabet[Math.floor(Math.random() * alphabet.length)] + u.slice(at + 1);
    const r = parseUserId(raw);
    t.is(r.ok ? (r.value as string) : null, reference(raw), JSON.stringify(raw));
    if (!r.ok) refused++;
  }
  t.true(refused > 5000, 'many of the inputs were invalid');
});
