/**
 * The Prometheus text exposition presencelb serves at /metrics (src/metrics/metrics-server.ts), read back into
 * samples: for tests that check what it shows, and for benchmarks that sample it.
 */

/** Series is one sample of the exposition: a name, its labels and its value. */
export interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** parseExposition returns every sample of an exposition, in order; comments (HELP, TYPE) and blank lines are skipped. */
export function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
