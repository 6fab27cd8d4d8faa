/** LostSignal, and finalResponse listening to it without leaving listeners behind. */
import test from 'ava';
import { ManualClock } from '../core/testing/fakes.ts';
import { LostSignal } from './lost-signal.ts';
import { finalResponse } from './sip-outcome.ts';

test('listeners are called once on abort, not after unlistening; a late listener is called at once', (t) => {
  const s = new LostSignal();
  const calls: string[] = [];
  const offA = s.onAbort(() => calls.push('a'));
  s.onAbort(() => calls.push('b'));
  const offC = s.onAbort(() => calls.push('c'));
  offC();
  t.is(s.listeners, 2);
  s.abort('gone');
  s.abort('again');
  offA();
  t.deepEqual(calls, ['a', 'b']);
  t.true(s.aborted);
  t.is(s.reason, 'gone');
  s.onAbort(() => calls.push('late'));
  t.deepEqual(calls, ['a', 'b', 'late']);
  t.is(s.listeners, 0);
});

test('finalResponse: 10,000 transactions in flight on one connection; each answer unlistens, a drop fails the rest', async (t) => {
  const s = new LostSignal();
  const clock = new ManualClock();
  const answers: Array<() => void> = [];
  const pending = Array.from({ length: 10000 }, (_, i) =>
    finalResponse(`op ${i}`, (d) => answers.push(() => d.onAccept!({ message: { statusCode: 200 } } as never)), 30000, clock, s).then(
      () => 'ok',
      (e: Error) => e.message,
    ),
  );
  t.is(s.listeners, 10000);
  for (const a of answers.slice(0, 6000)) a();
  t.is(s.listeners, 4000, 'answered transactions stop listening');
  s.abort(new Error('socket closed'));
  const out = await Promise.all(pending);
  t.is(out.filter((o) => o === 'ok').length, 6000);
  t.true(out.slice(6000).every((o) => /connection lost before the answer came/.test(o)));
  t.is(s.listeners, 0);
});
