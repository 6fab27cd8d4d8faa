/**
 * XdsRoutePublisher is the RoutePublisher port implemented over xDS: it keeps the pins in force (one per user),
 * and on every pin or unpin builds a new Snapshot from them and publishes it whole. A pin that cannot be
 * published (its server is not configured) is refused and leaves the pins in force unchanged.
 *
 * With off-path users (config extProc.offPath), it also follows which users are off ext_proc: offPathChanged()
 * schedules one publish of the current set within publishMs, so a burst of new users costs one snapshot. A pin or
 * unpin publishes at once, with the set as it is then.
 */
import type { PinRecord, RoutePublisher } from '../core/ports.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { PlbError } from '../core/errors.ts';
import { formatErrors } from '../core/result.ts';
import { Snapshot } from './snapshot.ts';
import type { SnapshotInput } from './snapshot-input.ts';

/** REMOVAL_MS bounds how long a user who left the off-path set waits to be published (offPathChanged). */
export const REMOVAL_MS = 200;

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
   * wait to be published together, and where a failed publish is reported.
   */
  readonly offPath?: {
    readonly users: ReadonlySet<string>;
    readonly extProcFilter: string;
    readonly publishMs: number;
    readonly onError: (e: Error) => void;
  };
}

/** XdsRoutePublisher turns pins into published snapshots. */
export class XdsRoutePublisher implements RoutePublisher {
  readonly #sink: SnapshotSink;
  readonly #base: Omit<SnapshotInput, 'pins'>;
  readonly #offPath: XdsRoutePublisherOptions['offPath'];
  #pins: ReadonlyMap<string, PinRecord>;
  #offPathTimer: NodeJS.Timeout | null = null;
  #offPathDue = 0;

  constructor(opts: XdsRoutePublisherOptions) {
    this.#sink = opts.sink;
    this.#base = Object.freeze({ ...opts.base });
    this.#pins = new Map((opts.initialPins ?? []).map((p) => [p.user, p]));
    this.#offPath = opts.offPath;
  }

  /**
   * offPathChanged schedules a publish of the off-path users (at most one pending; see the class comment). With
   * urgent, within REMOVAL_MS at most: for a user torn down, whose requests skip ext_proc until Envoy has the route
   * table without that user, so a user coming back would be let in before register and notify.
   */
  offPathChanged(urgent = false): void {
    const o = this.#offPath;
    if (!o) return;
    const due = Date.now() + (urgent ? Math.min(o.publishMs, REMOVAL_MS) : o.publishMs);
    if (this.#offPathTimer) {
      if (due >= this.#offPathDue) return;
      clearTimeout(this.#offPathTimer);
    }
    this.#offPathDue = due;
    this.#offPathTimer = setTimeout(() => {
      this.#offPathTimer = null;
      try {
        this.#apply(this.#pins);
      } catch (e) {
        o.onError(e as Error);
      }
    }, due - Date.now());
  }

  /** stop cancels a pending publish of the off-path users. */
  stop(): void {
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
    const built = Snapshot.build({ ...this.#base, pins: [...pins.values()], ...(o ? { offPath: { users: [...o.users], extProcFilter: o.extProcFilter } } : {}) });
    if (!built.ok) {
      const code = built.errors.find((e) => e.code === 'SNAPSHOT_INCONSISTENT') ? 'SNAPSHOT_INCONSISTENT' : built.errors[0]!.code;
      throw new PlbError(code, formatErrors(built.errors));
    }
    this.#sink.publish(built.value);
    this.#pins = pins;
    return { version: built.value.typeVersion('RDS'), snapshotVersion: built.value.version };
  }
}
