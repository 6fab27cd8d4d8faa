/** newFlowId: version 7 UUIDs, in time order, unique. */
import test from 'ava';
import { parseUserId } from '../core/user-id.ts';
import { newFlowId } from './flow-id.ts';

test('a version 7 UUID whose first 48 bits are the time, and which sorts by time', (t) => {
  const id = newFlowId(0x0192_3456_789a);
  t.regex(id, /^01923456-789a-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.true(parseUserId(id).ok, 'a well-formed UUID, as the store checks ids');
  const ids = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000].map((ms) => newFlowId(ms));
  t.deepEqual([...ids].sort(), ids);
});

test('10,000 ids in the same millisecond are all different', (t) => {
  const ids = new Set(Array.from({ length: 10000 }, () => newFlowId(1_700_000_000_000)));
  t.is(ids.size, 10000);
});

test('the time part follows each call, also back and forth between milliseconds (it is formatted once per millisecond)', (t) => {
  for (const ms of [0x0192_3456_789a, 0x0192_3456_789b, 0x0192_3456_789a, 0, 0xffff_ffff_ffff]) {
    const hex = ms.toString(16).padStart(12, '0');
    t.true(newFlowId(ms).startsWith(`${hex.slice(0, 8)}-${hex.slice(8)}-7`), `at ${hex}`);
  }
});

test('the variant is RFC 9562 (binary 10) and every random digit varies', (t) => {
  const ids = Array.from({ length: 2000 }, () => newFlowId(1_700_000_000_000));
  t.deepEqual([...new Set(ids.map((id) => id[19]))].sort(), ['8', '9', 'a', 'b']);
  // Positions of the random digits (after the version digit), each seen with many values.
  for (const i of [15, 16, 17, 20, 21, 22, ...Array.from({ length: 12 }, (_, k) => 24 + k)]) t.true(new Set(ids.map((id) => id[i])).size >= 12, `digit ${i}`);
});
