/**
 * The observable record of the claim's steps. The lifecycle emits one LifecycleEvent per step it takes for a
 * user, in the order it takes them; the app logs them (event "claim.<step>"), and later counts and streams them.
 */
import type { ErrorCode } from './errors.ts';
import type { UserId } from './user-id.ts';

/**
 * ClaimStep names the steps of claim 1 of US 7,647,401 as presencelb performs them: register, notify (PUBLISH
 * that the user requests an application server), provide_access (the request is let through), subscribe,
 * receive_notification, identify (the decision), then either route_update + reconnect_message (and, when the
 * reconnect window is over, reconnect_outcome then route_withdrawn or the teardown steps) or unsubscribe,
 * unpublish, unregister, purge.
 */
export type ClaimStep =
  | 'register'
  | 'notify'
  | 'provide_access'
  | 'subscribe'
  | 'receive_notification'
  | 'identify'
  | 'reconnect_message'
  | 'route_update'
  | 'reconnect_outcome'
  | 'route_withdrawn'
  | 'unsubscribe'
  | 'unpublish'
  | 'unregister'
  | 'purge';

/** LifecycleEvent is one step taken (ok) or attempted and failed (ok false, with the error's code). */
export interface LifecycleEvent {
  readonly step: ClaimStep;
  readonly user: UserId;
  readonly at: number;
  readonly ok: boolean;
  readonly code?: ErrorCode;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** LifecycleObserver receives every event; it must not throw and must not block. */
export type LifecycleObserver = (e: LifecycleEvent) => void;
