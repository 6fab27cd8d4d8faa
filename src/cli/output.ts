/**
 * How the admin commands print: aligned plain-text tables for people, JSON for scripts (proto3 JSON style:
 * Timestamps as RFC 3339 strings, 64-bit integers as strings), and one line per error on stderr.
 */

/** table renders rows under headers, columns padded to their widest cell, two spaces apart. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** isTimestamp recognises a google.protobuf.Timestamp as grpc-js decodes it. */
function isTimestamp(v: unknown): v is { seconds: string | number; nanos: number } {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && 'seconds' in v && 'nanos' in v;
}

/** time renders a Timestamp (or null) as an ISO 8601 UTC string ('' for none). */
export function time(v: unknown): string {
  if (!isTimestamp(v)) return '';
  return new Date(Number(v.seconds) * 1000 + Math.floor(v.nanos / 1e6)).toISOString();
}

/** toJson converts a response for JSON output: Timestamps become RFC 3339 strings, everything else is kept. */
export function toJson(v: unknown): unknown {
  if (isTimestamp(v)) return time(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** json renders a response as one pretty JSON document. */
export const json = (v: unknown): string => `${JSON.stringify(toJson(v), null, 2)}\n`;

/** shortEnum drops a proto enum's prefix: USER_STATE_TRACKING → tracking. */
export const shortEnum = (v: unknown, prefix: string): string => (typeof v === 'string' ? v.replace(prefix, '').toLowerCase() : '');
