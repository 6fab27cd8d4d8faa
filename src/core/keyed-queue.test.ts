import test from 'ava';
import { KeyedQueue } from './keyed-queue.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('tasks of one key run one at a time in order; other keys run alongside; failures do not block', async (t) => {
  const q = new KeyedQueue<string>();
  const log: string[] = [];
  const p1 = q.run('a', async () => { log.push('a1>'); await tick(30); log.push('a1<'); });
  const p2 = q.run('a', async () => { log.push('a2'); throw new Error('boom'); });
  const p3 = q.run('a', async () => { log.push('a3'); return 3; });
  const pb = q.run('b', async () => { log.push('b1'); });
  await t.throwsAsync(p2, { message: 'boom' });
  t.is(await p3, 3);
  await Promise.all([p1, pb]);
  t.deepEqual(log.filter((x) => x.startsWith('a')), ['a1>', 'a1<', 'a2', 'a3']);
  t.true(log.indexOf('b1') < log.indexOf('a1<'));
  await q.idle();
  t.is(q.size, 0);
});
