/**
 * When presencelb refreshes what a server granted for a limited time (a registration, a publication, a
 * subscription). Servers keep expiries in whole seconds (Kamailio stores time(NULL) + Expires, so a grant can end
 * up to a second early), and a refresh needs a round trip: refreshing at 90% of a 5 s grant is too late (seen
 * here: Kamailio ended such a subscription with reason=timeout before the refresh arrived). So the refresh comes
 * at least REFRESH_HEAD_START_MS before the end, at 90% for long grants, and never before half of the grant (so a
 * server granting a second or two is not refreshed in a tight loop). Pure.
 */

/** REFRESH_HEAD_START_MS is the least time a refresh is sent before the grant ends. */
export const REFRESH_HEAD_START_MS = 2000;

/** refreshDelayMs is how long after a grant of grantedSec seconds its refresh is sent. */
export function refreshDelayMs(grantedSec: number): number {
  const ms = Math.max(0, grantedSec) * 1000;
  return Math.max(ms / 2, ms - Math.max(ms / 10, REFRESH_HEAD_START_MS));
}

/**
 * refreshPercent is refreshDelayMs as the percentage of the grant SIP.js's Registerer takes
 * (its refreshFrequency, 50 to 99).
 */
export function refreshPercent(grantedSec: number): number {
  const pct = Math.floor((100 * refreshDelayMs(grantedSec)) / (grantedSec * 1000));
  return Math.min(99, Math.max(50, Number.isFinite(pct) ? pct : 50));
}
