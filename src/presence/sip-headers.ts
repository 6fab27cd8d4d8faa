/**
 * Parsers for the SIP header values a NOTIFY carries that presencelb acts on. Pure functions over header text, so
 * they are tested without a SIP stack.
 */
import type { SubscriptionState } from '../core/ports.ts';

const STATES = new Set(['active', 'pending', 'terminated']);

/**
 * parseSubscriptionState parses a Subscription-State value (RFC 6665 section 8.2.3), e.g.
 * `active;expires=60` or `terminated;reason=timeout;retry-after=5`. Parameter names and the state are
 * case-insensitive; unknown parameters are ignored. Returns null for an unknown state or an empty value.
 */
export function parseSubscriptionState(value: string | undefined | null): SubscriptionState | null {
  if (!value) return null;
  const [head, ...params] = value.split(';').map((s) => s.trim());
  const state = (head ?? '').toLowerCase();
  if (!STATES.has(state)) return null;
  let reason: string | null = null;
  let expires: number | null = null;
  let retryAfter: number | null = null;
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const raw = eq < 0 ? '' : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (name === 'reason' && raw) reason = raw.toLowerCase();
    else if (name === 'expires') expires = seconds(raw);
    else if (name === 'retry-after') retryAfter = seconds(raw);
  }
  return { state: state as SubscriptionState['state'], reason, expires, retryAfter };
}

function seconds(raw: string): number | null {
  return /^\d+$/.test(raw) ? Number(raw) : null;
}

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * parseSipDate parses a SIP Date header (RFC 3261 section 20.17: rfc1123-date, always GMT) into ms since the
 * epoch. Anything else, including other date formats Date.parse would accept, gives null.
 */
export function parseSipDate(value: string | undefined | null): number | null {
  if (!value) return null;
  const v = value.trim();
  if (!RFC1123.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : null;
}
