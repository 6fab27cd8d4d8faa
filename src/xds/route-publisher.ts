/**
 * XdsRoutePublisher is the RoutePublisher port implemented over xDS: it keeps the pins in force (one per user),
 * and on every pin or unpin builds a new Snapshot from them and publishes it whole. A pin that cannot be
 * published (its server is not configured) is refused and leaves the pins in force unchanged.
 *
 * With off-path users (config extProc.offPath), it also follows which users are off ext_proc: offPathChanged()
 * schedules one publish of the current set within publishMs, so a burst of new users costs one snapshot. A pin or
 * unpin publishes at once, with the set as it is then; offPathSettled() (a teardown) publishes within REMOVAL_MS
 * and waits for Envoy's ACK.
 */
import type { PinRecord, RoutePublisher } from '../core/ports.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { PlbError } from '../core/errors.ts';
import { formatErrors } from '../core/result.ts';
import { Snapshot } from './snapshot.ts';
import type { SnapshotInput } from './snapshot-input.ts';
import type { AckOutcome } from './ads-types.ts';

/** REMOVAL_MS: offPathSettled publishes within this long, so that teardowns close together share one snapshot. */
export const REMOVAL_MS = 50;

/** SnapshotSink is where snapshots go: the AdsServer, or anything else that publishes them. */
export interface SnapshotSink {
  publish(snapshot: Snapshot): void;
}

/** XdsRoutePublisherOptions: the sink, everything of the snapshot input except the pins, and pins to start with. */
export interface XdsRoutePublisherOptions {
  readonly sink: SnapshotSink;
  readonly base: Omit<SnapshotInput, 'pins'>;
  /** initialPins are the pins in force at start (e.g. read back from the store after a restart). */
  readonly initialPins?: readonly PinRecord[];
  /**
   * offPath: the live set of off-path users (read at each publish), the ext_proc filter's name, how long changes
   * wait to be published together, where a failed publish is reported, and how to wait for Envoy to apply a
   * snapshot (the ADS server's waitForAck).
   */
  readonly offPath?: {
    readonly users: ReadonlySet<string>;
    readonly extProcFilter: string;
    /** identityAtStart: see SnapshotInput.offPath (true with identity.source header). */
    readonly identityAtStart?: boolean;
    readonly publishMs: number;
    readonly onError: (e: Error) => void;
    readonly applied: (snapshotVersion: string, timeoutMs: number) => Promise<AckOutcome>;
  };
}

/** XdsRoutePublisher turns pins into published snapshots. */
export class XdsRoutePublisher implements RoutePublisher {
  readonly #sink: SnapshotSink;
  readonly #base: Omit<SnapshotInput, 'pins'>;
  readonly #offPath: XdsRoutePublisherOptions['offPath'];
  #pins: ReadonlyMap<string, PinRecord>;
  #offPathTimer: NodeJS.Timeout | null = null;
  /** #changes counts offPathChanged calls; #published is the count the last published snapshot included. */
  #changes = 0;
  #published = 0;
  #lastVersion = '';
  #flush: Promise<string> | null = null;
  #stopped = false;

  constructor(opts: XdsRoutePublisherOptions) {
    this.#sink = opts.sink;
    this.#base = Object.freeze({ ...opts.base });
    this.#pins = new Map((opts.initialPins ?? []).map((p) => [p.user, p]));
    this.#offPath = opts.offPath;
  }

  /** offPathChanged schedules a publish of the off-path users publishMs from now (at most one pending). */
  offPathChanged(): void {
    const o = this.#offPath;
    this.#changes++;
    if (!o || this.#stopped || this.#offPathTimer) return;
    this.#offPathTimer = setTimeout(() => {
      this.#offPathTimer = null;
      try {
        this.#publishChanges();
      } catch (e) {
        o.onError(e as Error);
      }
    }, o.publishMs);
  }

  /**
   * offPathSettled makes sure Envoy no longer holds an off-path route for a user who left the set: it publishes the
   * set as it is now, unless that was done already (callers within REMOVAL_MS share one publish), and resolves with
   * how waiting for every connected Envoy's ACK of it ended (bounded by timeoutMs). A user torn down must not find
   * the off-path route still in force, or the next request would skip ext_proc and so register and notify.
   * Resolves 'off' without the offPath option or once stopped, 'failed' if the snapshot could not be built.
   */
  async offPathSettled(timeoutMs: number): Promise<AckOutcome['status'] | 'off' | 'failed'> {
    const o = this.#offPath;
    if (!o || this.#stopped) return 'off';
    let version: string;
    try {
      version = await this.#flushSoon();
    } catch (e) {
      o.onError(e as Error);
      return 'failed';
    }
    return (await o.applied(version, timeoutMs)).status;
  }

  /** #flushSoon resolves with the version of a snapshot holding every change so far, publishing one within REMOVAL_MS if needed. */
  #flushSoon(): Promise<string> {
    if (this.#upToDate()) return Promise.resolve(this.#lastVersion);
    this.#flush ??= new Promise<string>((resolve, reject) => {
      setTimeout(() => {
        this.#flush = null;
        try {
          resolve(this.#publishChanges());
        } catch (e) {
          reject(e);
        }
      }, REMOVAL_MS);
    });
    return this.#flush;
  }

  /** #upToDate: the last published snapshot holds every change so far. */
  #upToDate(): boolean {
    return this.#changes === this.#published && this.#lastVersion !== '';
  }

  /**
   * #publishChanges publishes the off-path set unless a pin, an unpin or the other timer already published every
   * change, and returns the snapshot version that holds them. Throws as #apply does.
   */
  #publishChanges(): string {
    return this.#upToDate() ? this.#lastVersion : this.#apply(this.#pins).snapshotVersion;
  }

  /** stop cancels a pending publish of the off-path users; later changes publish nothing. */
  stop(): void {
    this.#stopped = true;
    if (this.#offPathTimer) clearTimeout(this.#offPathTimer);
    this.#offPathTimer = null;
  }

  /**
   * publishCurrent builds and publishes the snapshot of the pins in force and returns its version. Call it once at
   * start-up: until then the ADS server holds Envoy's requests. Pins that can no longer be published (their server
   * is no longer configured, or their user is not a canonical UUID) are dropped from the pins in force and returned,
   * so the caller can log them and delete them from the store. Throws a PlbError (as pin) if the base itself
   * cannot make a snapshot.
   */
  publishCurrent(): { version: string; snapshotVersion: string; dropped: readonly PinRecord[] } {
    const servers = new Set(this.#base.appServers.map((a) => a.name));
    const keep = new Map<string, PinRecord>();
    const dropped: PinRecord[] = [];
    for (const p of this.#pins.values()) {
      const id = parseUserId(p.user);
      if (servers.has(p.appServer) && id.ok && id.value === p.user) keep.set(p.user, p);
      else dropped.push(p);
    }
    return { ...this.#apply(keep), dropped };
  }

  /**
   * pin puts (or replaces) the user's route update and publishes. It rejects with a PlbError, leaving the pins in
   * force unchanged, when the snapshot cannot be built: SNAPSHOT_INCONSISTENT when the pin names an application
   * server that is not configured, else the code of the first problem; the message lists every problem with its
   * field path. Expiry is the caller's business: a pin stays until unpin.
   */
  async pin(pin: PinRecord): Promise<{ version: string; snapshotVersion: string }> {
    const next = new Map(this.#pins);
    next.set(pin.user, pin);
    return this.#apply(next);
  }

  /** unpin withdraws the user's route update, if any, and publishes. */
  async unpin(user: UserId): Promise<{ version: string; snapshotVersion: string }> {
    const next = new Map(this.#pins);
    next.delete(user);
    return this.#apply(next);
  }

  /** pins returns the pins in force, ordered by user. */
  pins(): readonly PinRecord[] {
    return [...this.#pins.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }

  /**
   * #apply publishes the snapshot of `pins`. The version it returns is the route configuration's (RDS) version: the
   * version_info Envoy ACKs and shows in its config_dump for the update; snapshotVersion names the whole snapshot.
   */
  #apply(pins: ReadonlyMap<string, PinRecord>): { version: string; snapshotVersion: string } {
    const o = this.#offPath;
    const changes = this.#changes;
    const built = Snapshot.build({ ...this.#base, pins: [...pins.values()], ...(o ? { offPath: { users: [...o.users], extProcFilter: o.extProcFilter, identityAtStart: o.identityAtStart === true } } : {}) });
    if (!built.ok) {
      const code = built.errors.find((e) => e.code === 'SNAPSHOT_INCONSISTENT') ? 'SNAPSHOT_INCONSISTENT' : built.errors[0]!.code;
      throw new PlbError(code, formatErrors(built.errors));
    }
    this.#sink.publish(built.value);
    this.#pins = pins;
    this.#published = changes;
    this.#lastVersion = built.value.version;
    return { version: built.value.typeVersion('RDS'), snapshotVersion: built.value.version };
  }
}
