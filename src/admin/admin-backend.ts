/**
 * AdminBackend is everything the admin API reads and acts on, as the adapter needs it: the store's read queries,
 * the lifecycle's operator entry points and event stream, what the presence adapter holds per user, the Envoys the
 * xDS server has seen, and the metrics as named values. app.ts builds it from the running parts.
 */
import type { LifecycleObserver } from '../core/lifecycle-events.ts';
import type { PinRecord, PurgeCounts } from '../core/ports.ts';
import type { Result } from '../core/result.ts';
import type { SessionState } from '../core/session.ts';
import type { UserId } from '../core/user-id.ts';
import type { StoreReads } from '../store/index.ts';
import type { EnvoyStatus } from '../xds/ads-types.ts';

/** LiveSession is what the lifecycle holds in memory about a tracked user. */
export interface LiveSession {
  readonly state: SessionState;
  readonly appServer: string | null;
  readonly createdAt: number;
  readonly fingerprint: string | null;
}

/** HeldAtPresenceServer says what presencelb holds at the presence server for one user. */
export interface HeldAtPresenceServer {
  readonly registered: boolean;
  readonly published: boolean;
  readonly subscribed: boolean;
}

/** AdminBackend is the admin API's one dependency (see the module comment). */
export interface AdminBackend {
  readonly store: StoreReads;
  readonly lifecycle: {
    session(user: UserId): LiveSession | undefined;
    purgeNow(user: UserId): Promise<Result<PurgeCounts>>;
    reconnectNow(user: UserId): Promise<Result<PinRecord>>;
    /** observe adds an observer of every lifecycle event; the returned function removes it. */
    observe(fn: LifecycleObserver): () => void;
  };
  held(user: UserId): HeldAtPresenceServer;
  envoys(): EnvoyStatus[];
  /** stats returns the metrics as named values (see GetStatsResponse). */
  stats(): Promise<Readonly<Record<string, number>>>;
}
