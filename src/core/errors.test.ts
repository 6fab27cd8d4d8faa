import test from 'ava';
import { ErrorCodes, PlbError, isPlbError } from './errors.ts';
import { parseUserId } from './user-id.ts';

test('error catalogue: codes are UPPER_SNAKE, messages are non-empty and unique', (t) => {
  const entries = Object.entries(ErrorCodes);
  t.true(entries.length > 5);
  for (const [code, msg] of entries) {
    t.regex(code, /^[A-Z][A-Z0-9_]+$/);
    t.true(msg.length > 10);
  }
  t.is(new Set(entries.map(([, m]) => m)).size, entries.length);
  const e = new PlbError('STORE_FAILED');
  t.true(isPlbError(e, 'STORE_FAILED'));
  t.false(isPlbError(e, 'XDS_NACK'));
  t.is(e.message, ErrorCodes.STORE_FAILED);
});

const ids: Array<[unknown, string | null]> = [
  ['0B6F3A52-6A3E-4D36-9F3C-6C1D2B3A4F50', '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50'],
  ['0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50', '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50'],
  ['', null], [undefined, null], [42, null],
  ['0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f5', null],
  ['0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50\r\n', null],
  ['0b6f3a52-6a3e-4d36-9f3c\r\nb3a4f50abcd', null],
  ['{b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f5}', null],
  ['0b6f3a526a3e4d369f3c6c1d2b3a4f50abcd', null],
  ['0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50'.repeat(100), null],
  ['zb6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50', null],
];
for (const [raw, want] of ids)
  test(`parseUserId(${JSON.stringify(raw)?.slice(0, 50)})`, (t) => {
    const r = parseUserId(raw);
    if (want === null) {
      t.false(r.ok);
      if (!r.ok) t.regex(r.errors[0]!.code, /^IDENTITY_(MISSING|MALFORMED)$/);
    } else t.deepEqual(r, { ok: true, value: want });
  });
