/** Small numeric helpers for benchmark reports: percentiles and fixed-width formatting. */

/** atRank returns the nearest-rank p-th percentile (0-100) of sorted, which must be sorted ascending (NaN if empty). */
export function atRank(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** percentile returns the nearest-rank p-th percentile (0-100) of xs, NaN when xs is empty. xs need not be sorted. */
export function percentile(xs: ArrayLike<number>, p: number): number {
  return atRank(Float64Array.from(xs).sort(), p);
}

/** median of xs (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/**
 * bracketedRatios reads throughput ratios from an A B A B … A sequence of phases run back to back: each B against the
 * mean of the A just before and the A just after it, so that a drift of the machine's speed over the sequence (on a
 * shared machine, plain Envoy's own rate moved by a third between phases a minute apart) cancels to first order.
 * a has one phase more than b.
 */
export function bracketedRatios(a: readonly number[], b: readonly number[]): number[] {
  return bracketingMeans('bracketedRatios', a, b).map((around, i) => b[i]! / around);
}

/**
 * bracketedDifferences is bracketedRatios for a figure that adds rather than scales (latency): each B minus the mean
 * of the A just before and the A just after it.
 */
export function bracketedDifferences(a: readonly number[], b: readonly number[]): number[] {
  return bracketingMeans('bracketedDifferences', a, b).map((around, i) => b[i]! - around);
}

/** bracketingMeans: for each B of an A B A … A sequence, the mean of the A just before and the A just after it. */
function bracketingMeans(caller: string, a: readonly number[], b: readonly number[]): number[] {
  if (b.length === 0 || a.length !== b.length + 1) throw new Error(`${caller}: ${a.length} A phases around ${b.length} B phases (want one more A than B, at least one B)`);
  return b.map((_, i) => (a[i]! + a[i + 1]!) / 2);
}

/** Summary is the distribution of a sample: count and the percentiles reports use. */
export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** summarize returns count, p50, p90, p99 and max of xs. */
export function summarize(xs: ArrayLike<number>): Summary {
  if (xs.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(xs).sort();
  return { n: s.length, p50: atRank(s, 50), p90: atRank(s, 90), p99: atRank(s, 99), max: s[s.length - 1]! };
}

/** fmt renders a number with the given decimals, '-' for NaN or undefined. */
export function fmt(x: number | undefined, decimals = 1): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(decimals);
}

/** mb renders bytes as MiB with one decimal. */
export function mb(bytes: number): string {
  return fmt(bytes / 1048576, 1);
}

/** table renders rows as left-aligned, space-padded columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** sleep resolves after ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
