/**
 * A tracked user's presence session: which of the claim's steps presencelb has taken for the user.
 *
 *                 first flow
 *     (none) ───────────────▶ registering ──▶ publishing ──▶ subscribing ──▶ tracking ◀──────────┐
 *                                  │              │              │              │ presence change  │ window over
 *                                  └──────────────┴──────┬───────┘              ▼                  │
 *                                  presence server failed ▼                  deciding ──▶ reconnecting
 *                                                     degraded ──(next flow)──▶ registering     │   │
 *                                                                                │   ▼ (change)   │
 *                                                                                └▶ tearing_down ◀┘
 *                                                                                       │ purged
 *                                                                                       ▼
 *                                                                                     gone
 *
 * registering, publishing and subscribing are the claim's registering, notifying and subscribing steps; tracking
 * is "access provided, subscribed"; deciding is the identifying step; reconnecting holds a route update in force;
 * tearing_down runs unsubscribe, unregister and purge. tracking → reconnecting without a decision happens only
 * when a route update still in force is restored after a restart.
 */
import { PlbError } from './errors.ts';
import type { UserState } from './ports.ts';

/** SessionState is a persisted UserState, or gone once the user's rows are purged. */
export type SessionState = UserState | 'gone';

const ALLOWED: Readonly<Record<SessionState, readonly SessionState[]>> = {
  registering: ['publishing', 'degraded', 'tearing_down'],
  publishing: ['subscribing', 'degraded', 'tearing_down'],
  subscribing: ['tracking', 'degraded', 'tearing_down'],
  tracking: ['deciding', 'reconnecting', 'tearing_down', 'degraded'],
  deciding: ['reconnecting', 'tearing_down', 'tracking'],
  reconnecting: ['tracking', 'deciding', 'tearing_down'],
  tearing_down: ['gone'],
  degraded: ['registering', 'tearing_down'],
  gone: [],
};

/** canTransition says whether the state machine allows from → to. */
export function canTransition(from: SessionState, to: SessionState): boolean {
  return ALLOWED[from].includes(to);
}

/** transition returns `to` when the move is allowed and throws PlbError(ILLEGAL_TRANSITION) otherwise. */
export function transition(from: SessionState, to: SessionState): SessionState {
  if (!canTransition(from, to)) throw new PlbError('ILLEGAL_TRANSITION', `session cannot go from ${from} to ${to}`);
  return to;
}

/**
 * grantsAtOnce says whether a user in state s has a flow granted at once, with no presence step before it
 * (Lifecycle.flowStarted's fast path): the user is registered, published and subscribed. The data path may answer
 * such a user's requests without asking the lifecycle (Lifecycle's onAccess option reports the changes).
 */
export function grantsAtOnce(s: SessionState): boolean {
  return s === 'tracking' || s === 'reconnecting';
}

/** isLive says whether a session still holds presence-server state (anything but gone). */
export function isLive(s: SessionState): boolean {
  return s !== 'gone';
}
