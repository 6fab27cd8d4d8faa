/** Option and state types of the Lifecycle (lifecycle.ts). */
import type { AppServer, Clock, FlowStore, Logger, PresenceClient, RoutePublisher } from './ports.ts';
import type { PresenceInterpretation } from './presence-change.ts';
import type { SessionState } from './session.ts';
import type { UserId } from './user-id.ts';

/** LifecycleOptions are the ports and the lifecycle settings, fixed at construction. */
export interface LifecycleOptions {
  readonly presence: PresenceClient;
  readonly store: FlowStore;
  readonly routes: RoutePublisher;
  readonly clock: Clock;
  readonly log: Logger;
  readonly appServers: readonly AppServer[];
  /** graceMs: a flow that ended at most this long before a NOTIFY was sent still counts as in use. */
  readonly graceMs: number;
  /** reconnectWindowMs: how long a reconnect route update stays in force. */
  readonly reconnectWindowMs: number;
  /** stepTimeoutMs: the longest a first request waits for the register and notify steps. */
  readonly stepTimeoutMs: number;
  /** staleNotifyMs: a subscription silent for longer than this is treated as lost by sweep(). */
  readonly staleNotifyMs: number;
  /** presenceInterpretation: when presence says the user is gone (presence-change.ts); default DEFAULT_PRESENCE_INTERPRETATION. */
  readonly presenceInterpretation?: PresenceInterpretation;
  /**
   * onAccess hears when a user starts or stops being granted at once (session.ts, grantsAtOnce): true once the
   * user is tracked, false before anything could make a flow of the user wait for a presence step again (a
   * decision, a teardown, a degraded presence server). It is called synchronously with the state change.
   */
  readonly onAccess?: (user: UserId, atOnce: boolean) => void;
  /**
   * flowsSettled resolves once every flow event the data path saw before the call has been handed to flowStarted,
   * flowUpstream or flowEnded (a data path in another thread sends them in batches), and once the data path has heard
   * every onAccess before the call. The identifying step and the end of a reconnect window wait for it before they
   * read the user's flows (readFlows true: a data path that hears of flows late, from an access log, also waits
   * that long); a teardown waits for it before it withdraws anything (readFlows false). A data path that holds a
   * user's completed flows for a while (src/dataplane/span-hold.ts) hands the named user's over before it resolves.
   * It must resolve, bounding its wait.
   */
  readonly flowsSettled?: (o: { readonly readFlows: boolean; readonly user: UserId }) => Promise<void>;
}

/** Session is the lifecycle's in-memory view of one tracked user; mutated only inside that user's queue. */
export interface Session {
  readonly user: UserId;
  state: SessionState;
  /**
   * fingerprint is the other parties' presence last seen, a PresenceSnapshot as JSON (presence-change.ts); null
   * until the subscription's first NOTIFY.
   */
  fingerprint: string | null;
  /** appServer is the server of the user's most recent flow. */
  appServer: string | null;
  /** retryAt: when degraded, the earliest time a flow may trigger the presence steps again. */
  retryAt: number;
  retryDelayMs: number;
  /** cancelPinTimer cancels the end of the reconnect window while a route update is in force. */
  cancelPinTimer: (() => void) | null;
  /** pinCreatedAt: when the route update in force was made (the reconnect window's start), else null. */
  pinCreatedAt: number | null;
  /** lastNotifyAt: when the subscription last showed life (subscribed, or a NOTIFY arrived). */
  lastNotifyAt: number;
  createdAt: number;
}
