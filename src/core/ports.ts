/**
 * Ports: the interfaces the lifecycle core needs from the outside world. The core owns them; adapters at the
 * edge (SIP.js for presence, knex for the store, grpc-js for xDS) implement them and import the core, never the
 * reverse. All times are milliseconds since the Unix epoch.
 */
import type { UserId } from './user-id.ts';

/** Clock is the core's only source of time and timers, so tests can drive time by hand. */
export interface Clock {
  now(): number;
  /** setTimer calls fn once after ms; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Logger is a structured logger (pino-compatible subset). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** AppServer is one application server behind Envoy, as configured. Its name is its identity everywhere. */
export interface AppServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** FlowEndReason says why a flow was closed. */
export type FlowEndReason = 'completed' | 'stream_error' | 'presencelb_restart' | 'shutdown';

/** FlowRecord is one HTTP stream of one user through Envoy. endedAt is null while the stream is open. */
export interface FlowRecord {
  readonly id: string;
  readonly user: UserId;
  /** appServer is the configured name of the server that served the flow, null until Envoy has said. */
  readonly appServer: string | null;
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly endReason: FlowEndReason | null;
  /**
   * streams: how many HTTP streams the record stands for, when more than one. The store folds a user's completed
   * streams to one server into a span (src/store/flow-spans.ts): startedAt is the first start, endedAt the last end.
   * The identifying step reads a span as it reads its streams (see decide).
   */
  readonly streams?: number;
  /** lastStartedAt: the latest start among a span's streams, when it differs from startedAt. */
  readonly lastStartedAt?: number;
}

/**
 * PresenceActivities is one <rpid:activities> element (RFC 4480 section 3.2): what the person is doing, during
 * [from, until) when those attributes are given (ms since the epoch; absent: unbounded).
 */
export interface PresenceActivities {
  /**
   * names are the local names of the activity elements, each once, in order of first appearance: 'away',
   * 'on-the-phone', 'vacation', … ('unknown' when the publisher says it does not know; 'other' for <rpid:other>).
   */
  readonly names: readonly string[];
  /** other holds the text of each <rpid:other> element, when it has one. */
  readonly other: readonly string[];
  readonly from?: number;
  readonly until?: number;
}

/**
 * PresenceUserInput is an <rpid:user-input> element (RFC 4480 section 3.2): whether the user has used the
 * service, device or person's devices recently.
 */
export interface PresenceUserInput {
  readonly value: 'active' | 'idle';
  /** idleThresholdSec is how long without input the publisher waits before it says idle (attribute idle-threshold). */
  readonly idleThresholdSec?: number;
  /** lastInput is when the user last gave input (attribute last-input), ms since the epoch. */
  readonly lastInput?: number;
}

/**
 * PresenceTuple is one <tuple> of a PIDF document (RFC 3863) with the RPID elements (RFC 4480) presencelb reads.
 * The optional fields are absent when the document carries nothing readable for them.
 */
export interface PresenceTuple {
  readonly id: string;
  readonly basic: 'open' | 'closed' | null;
  readonly note: string | null;
  /** timestamp is the tuple's <timestamp> (RFC 3863 section 4.1.7), ms since the epoch. */
  readonly timestamp?: number;
  /** activities are the <rpid:activities> in the tuple's <status> or directly in the tuple, in document order. */
  readonly activities?: readonly PresenceActivities[];
  /**
   * userInput is the tuple's own <rpid:user-input> (in its <status> or directly in it), else that of the
   * <dm:device> its <dm:deviceID> names (RFC 4479 section 3.4).
   */
  readonly userInput?: PresenceUserInput;
}

/** PresencePerson is one <dm:person> element (RFC 4479 section 3.2) with the RPID elements presencelb reads. */
export interface PresencePerson {
  /** id is the person element's id attribute, null when it has none. */
  readonly id: string | null;
  readonly activities?: readonly PresenceActivities[];
  readonly userInput?: PresenceUserInput;
  /** timestamp is the person's <dm:timestamp>, ms since the epoch. */
  readonly timestamp?: number;
}

/**
 * PresenceDocument is a parsed PIDF document: the presentity, its tuples in document order, and its person elements
 * (absent when the document has none that carries RPID presencelb reads). A document merged by the presence
 * server holds every publisher's tuples and person elements.
 */
export interface PresenceDocument {
  readonly entity: string;
  readonly tuples: readonly PresenceTuple[];
  readonly persons?: readonly PresencePerson[];
}

/** SubscriptionState is the Subscription-State header of a NOTIFY (RFC 6665 section 8.2.3). */
export interface SubscriptionState {
  readonly state: 'active' | 'pending' | 'terminated';
  readonly reason: string | null;
  readonly expires: number | null;
  readonly retryAfter: number | null;
}

/**
 * PresenceNotification is one NOTIFY received for a user's presence subscription. document is null when the
 * body was empty; bodyError is set (and document null) when a body was present but did not parse as PIDF.
 */
export interface PresenceNotification {
  readonly user: UserId;
  /** sentAt is when the presence server sent the NOTIFY (its Date header), null when it carried none. */
  readonly sentAt: number | null;
  readonly receivedAt: number;
  readonly subscription: SubscriptionState;
  readonly document: PresenceDocument | null;
  readonly bodyError: string | null;
}

/** PresenceSink receives what the presence server sends on its own initiative. */
export interface PresenceSink {
  onNotify(n: PresenceNotification): void;
  /**
   * onSubscriptionLost: the adapter could not keep or restore the user's subscription (refresh failed and retries
   * were exhausted, or a termination it retried did not recover). NOTIFYs for the user will not arrive any more.
   */
  onSubscriptionLost?(user: UserId, reason: string): void;
}

/**
 * PresenceClient is presencelb's SIP user agent towards the presence server. Every method resolves when the
 * presence server has answered with a final 2xx and rejects with a PlbError (PRESENCE_*) otherwise. All per-user
 * state (registration binding, publication ETag, subscription dialog) is kept by the adapter, keyed by user.
 */
export interface PresenceClient {
  /** connected says whether the connection to the presence server is up now; no user is purged for an outage. */
  readonly connected: boolean;
  /** register creates presencelb's registration binding for this user (an AOR that carries the user's UUID). */
  register(user: UserId): Promise<void>;
  /** publish puts presencelb's own tuple (id ownTupleId) into the user's presence document, naming appServer. */
  publish(user: UserId, appServer: AppServer | null): Promise<void>;
  /** subscribe starts a presence subscription (Event: presence) to the user; NOTIFYs go to the PresenceSink. */
  subscribe(user: UserId): Promise<void>;
  /** sendReconnect sends a MESSAGE for the user through the presence server carrying the user's UUID. */
  sendReconnect(user: UserId, appServer: AppServer): Promise<void>;
  /** unsubscribe ends the subscription (SUBSCRIBE with Expires: 0). Resolves at once if there is none. */
  unsubscribe(user: UserId): Promise<void>;
  /** unpublish withdraws presencelb's publication (PUBLISH with Expires: 0). Resolves at once if there is none. */
  unpublish(user: UserId): Promise<void>;
  /** unregister removes presencelb's binding for the user (REGISTER with Expires: 0). */
  unregister(user: UserId): Promise<void>;
}

/** UserState is a user's lifecycle state as persisted; see session.ts for the state machine. */
export type UserState =
  | 'registering'
  | 'publishing'
  | 'subscribing'
  | 'tracking'
  | 'deciding'
  | 'reconnecting'
  | 'tearing_down'
  | 'degraded';

/** Branch is the claim's two outcomes of a decision. */
export type Branch = 'reconnect' | 'teardown';

/** UserRecord is what the store keeps about one tracked user. */
export interface UserRecord {
  readonly user: UserId;
  readonly state: UserState;
  /** appServer is the server of the user's most recent flow. */
  readonly appServer: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** presence is the last presence document seen for the user (other parties' tuples only), as JSON text. */
  readonly presence: string | null;
}

/** DecisionRecord is one decision taken for a user, kept until the user is purged. */
export interface DecisionRecord {
  readonly user: UserId;
  readonly decidedAt: number;
  /** notifySentAt is the instant the decision was taken for: the NOTIFY's sending time. */
  readonly notifySentAt: number;
  readonly branch: Branch;
  readonly appServer: string | null;
  readonly reason: string;
}

/** PinRecord is a route update in force: the user's requests go to appServer until expiresAt. */
export interface PinRecord {
  readonly user: UserId;
  readonly appServer: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** PurgeCounts says how many rows of each table a purge removed. */
export type PurgeCounts = Readonly<Record<string, number>>;

/**
 * FlowStore is the database. Writes for one user are issued in order by the core. Every method rejects with a
 * PlbError(STORE_FAILED) on failure; nothing is half-written (purgeUser is one transaction).
 */
export interface FlowStore {
  upsertUser(rec: UserRecord): Promise<void>;
  getUser(user: UserId): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  insertFlow(flow: FlowRecord): Promise<void>;
  setFlowAppServer(flowId: string, appServer: string): Promise<void>;
  endFlow(flowId: string, endedAt: number, reason: FlowEndReason): Promise<void>;
  /** flowsOverlapping returns the user's flows that were open at some instant at or after `since`. */
  flowsOverlapping(user: UserId, since: number): Promise<FlowRecord[]>;
  /** closeOpenFlows ends every flow still open (after a restart) and returns how many it closed. */
  closeOpenFlows(at: number, reason: FlowEndReason): Promise<number>;
  /**
   * pruneFlows deletes at most `limit` flows that ended before `endedBefore`, oldest end first, and returns how many
   * it deleted. Open flows are never deleted.
   */
  pruneFlows(endedBefore: number, limit: number): Promise<number>;
  recordDecision(d: DecisionRecord): Promise<void>;
  savePin(pin: PinRecord): Promise<void>;
  deletePin(user: UserId): Promise<void>;
  listPins(): Promise<PinRecord[]>;
  /** purgeUser deletes every row about the user from every table, in one transaction. */
  purgeUser(user: UserId): Promise<PurgeCounts>;
  close(): Promise<void>;
}

/**
 * RoutePublisher turns pins into Envoy configuration. pin resolves once a snapshot containing the route update
 * has been published to every connected Envoy (not waiting for ACKs); its result is the version of the route
 * configuration Envoy receives (the version_info Envoy ACKs and shows in its config_dump).
 */
export interface RoutePublisher {
  pin(pin: PinRecord): Promise<{ version: string }>;
  unpin(user: UserId): Promise<{ version: string }>;
}
