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
