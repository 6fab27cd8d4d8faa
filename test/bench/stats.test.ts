/** The benchmark's bracketed throughput ratios (bench/lib/stats.ts): A B A B … A, each B against the As around it. */
import test from 'ava';
import { bracketedDifferences, bracketedRatios, median } from '../../bench/lib/stats.ts';

test('bracketedRatios: each B against the mean of the A before and after it', (t) => {
  t.deepEqual(bracketedRatios([100, 200, 100], [150, 75]), [1, 0.5]);
});

test('bracketedRatios: a steady drift of the machine cancels; a ratio against one neighbour alone would not', (t) => {
  // The machine slows by 10% a phase (A and B alike); B is truly 0.9 of A at every instant.
  const speed = (phase: number) => 1 - 0.1 * phase;
  const a = [0, 2, 4, 6].map((p) => 10000 * speed(p));
  const b = [1, 3, 5].map((p) => 9000 * speed(p));
  for (const r of bracketedRatios(a, b)) t.is(Math.round(r * 1000) / 1000, 0.9);
  t.true(b.map((x, i) => x / a[i]!).every((r) => r < 0.85), 'against the A before it alone, every ratio reads low');
  t.is(Math.round(median(bracketedRatios(a, b)) * 1000) / 1000, 0.9);
});

test('bracketedRatios refuses a sequence that is not A B … A', (t) => {
  t.throws(() => bracketedRatios([1, 2], [1, 2]), { message: /2 A phases around 2 B phases/ });
  t.throws(() => bracketedRatios([1], []), { message: /at least one B/ });
});

test('bracketedDifferences: each B minus the mean of the A before and after it', (t) => {
  t.deepEqual(bracketedDifferences([4, 6, 2], [6, 3]), [1, -1]);
  t.throws(() => bracketedDifferences([1, 2], [1, 2]), { message: /want one more A than B/ });
  t.throws(() => bracketedDifferences([1], []), { message: /at least one B/ });
});
