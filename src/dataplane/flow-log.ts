/**
 * Flows from Envoy's file access logger (envoy.access_loggers.file), the flow log: one JSON line per entry, in the
 * format flowLogFormat() gives (the bootstraps that use it carry exactly that format; a test compares them).
 *
 * Why a second transport for the same entries (the gRPC access log service, access-log.ts, is the first): Envoy
 * builds a gRPC entry (an HTTPAccessLogEntry with every common property) and sends it from the worker thread that
 * served the request. Measured with Envoy alone, that cost it 10–25% more CPU a request than forwarding; a file
 * logger with this short format 2–7%, because Envoy's own flush thread does the writing (ARCHITECTURE.md, "The flow
 * log").
 * The price: presencelb must read the file, so it runs on the same host as Envoy or shares a volume with it
 * (docker-compose.yml), and Envoy must flush the file often (`--file-flush-interval-msec 50`; the default is 10 s).
 *
 * A line carries what AccessLogReceiver needs (FlowReport): the stream's x-request-id, the user, the entry's type
 * (DownstreamEnd, DownstreamPeriodic…), its start and duration, Envoy's response flags, and the upstream host and
 * cluster. The user is the verified JWT `sub` from dynamic metadata, or the identity header, as presencelb's
 * identity config says.
 */
import { fail, ok, type Result } from '../core/result.ts';
import { parseUserId } from '../core/user-id.ts';
import { kindOf, type FlowReport } from './access-log.ts';
import type { IdentitySettings } from './identity.ts';

/**
 * FLOW_LOG_FLUSH_MS: the --file-flush-interval-msec Envoy must run with when it writes a flow log (Envoy's default,
 * 10 s, would report flows that late).
 */
export const FLOW_LOG_FLUSH_MS = 50;

/** flowLogFormat is the json_format of the flow log for an identity config: the bootstrap's logger must use it. */
export function flowLogFormat(identity: IdentitySettings): Record<string, string> {
  return {
    // At most 128 characters: a client may send its own x-request-id, and a line over MAX_LINE_BYTES is dropped.
    request_id: '%REQ(X-REQUEST-ID):128%',
    user: identity.source === 'jwt' ? `%DYNAMIC_METADATA(${identity.jwtMetadataNamespace}:${identity.jwtPayloadKey}:sub)%` : `%REQ(${identity.header.toUpperCase()})%`,
    type: '%ACCESS_LOG_TYPE%',
    start: '%START_TIME(%s.%3f)%',
    duration_ms: '%DURATION%',
    flags: '%RESPONSE_FLAGS%',
    upstream: '%UPSTREAM_HOST%',
    cluster: '%UPSTREAM_CLUSTER%',
  };
}

/**
 * BROKEN_FLAGS are Envoy's short response flags (%RESPONSE_FLAGS%) that mean the stream did not complete normally:
 * the same as access-log.ts's long names (DC downstream connection termination, DR downstream remote reset, UR
 * upstream remote reset, UC upstream connection termination, UF upstream connection failure, SI stream idle
 * timeout, UT upstream request timeout, DT duration timeout, UMSDR upstream max stream duration reached).
 */
const BROKEN_FLAGS = new Set(['DC', 'DR', 'UR', 'UC', 'UF', 'SI', 'UT', 'DT', 'UMSDR']);

/** MAX_LINE_BYTES bounds one line (a line of this format is about 250 bytes; longer ones are refused). */
export const MAX_LINE_BYTES = 4096;

/**
 * parseFlowLogLine reads one line. The value is the entry's report, or null for a well-formed entry that names no
 * valid user (a request refused before its identity was verified, or one without an identity): such an entry is
 * no one's flow, as with the gRPC access log. A line that is not an entry of this format is FLOW_LOG_MALFORMED.
 */
export function parseFlowLogLine(line: string): Result<FlowReport | null> {
  if (line.length > MAX_LINE_BYTES) return malformed(`line is ${line.length} bytes long; at most ${MAX_LINE_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return malformed('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return malformed('not a JSON object');
  const e = v as Record<string, unknown>;
  const requestId = present(e.request_id);
  if (typeof requestId !== 'string') return malformed('no request_id');
  const type = present(e.type);
  if (typeof type !== 'string') return malformed('no type');
  const startMs = seconds(present(e.start));
  if (startMs === undefined) return malformed(`start is not seconds since the epoch: ${JSON.stringify(e.start)}`);
  const durationMs = present(e.duration_ms);
  if (durationMs !== null && (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0)) return malformed('duration_ms is not a number of milliseconds');
  const user = parseUserId(present(e.user));
  if (!user.ok) return ok(null);
  const flags = present(e.flags);
  const upstream = present(e.upstream);
  const cluster = present(e.cluster);
  return ok({
    requestId,
    user: user.value,
    kind: kindOf(type),
    startMs,
    durationMs,
    broken: typeof flags === 'string' && flags.split(',').some((f) => BROKEN_FLAGS.has(f)),
    upstreamAddress: typeof upstream === 'string' ? upstream : null,
    upstreamCluster: typeof cluster === 'string' ? cluster : null,
  });
}

function malformed(message: string): Result<never> {
  return fail({ code: 'FLOW_LOG_MALFORMED', path: '', message });
}

/** present maps Envoy's marks for "no value" (null, a missing key, "-" in a string field) to null. */
function present(v: unknown): unknown {
  return v === undefined || v === null || v === '-' || v === '' ? null : v;
}

/**
 * seconds reads "1795708252.891" (%START_TIME(%s.%3f)%) as ms since the epoch: 1 to 12 digits, then optionally a
 * point and 1 to 9 digits; null stays null, anything else is undefined. (Checked character by character: it runs
 * for every line.)
 */
function seconds(v: unknown): number | null | undefined {
  if (v === null) return null;
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
  if (s === null) return undefined;
  const whole = digits(s, 0);
  if (whole < 1 || whole > 12) return undefined;
  if (whole < s.length) {
    if (s.charCodeAt(whole) !== 46) return undefined; // '.'
    const frac = digits(s, whole + 1);
    if (frac < 1 || frac > 9 || whole + 1 + frac !== s.length) return undefined;
  }
  return Math.round(Number(s) * 1000);
}

/** digits counts the ASCII digits of s from index `from` on. */
function digits(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i - from;
}
