/**
 * PinTable is the RoutePublisher port for config xds.pins: header. A reconnect's route update is one entry here
 * (user → application server); ext_proc reads it on each of the user's requests and sets the pin header to the
 * server's name, and the steering route xDS serves for that server (resource-types/route.ts) sends the request
 * there. A change is one map write however many users are pinned, and it is in force for the user's next request:
 * no configuration is re-sent to any Envoy. The routes it relies on are published over xDS once, at start-up, and
 * again only when the application servers change.
 *
 * The table is the in-memory index of the store's pins table: the lifecycle saves a pin before publishing it, and
 * the table is filled from the store at start-up (restore), so it holds the same pins after a restart.
 */
import { PlbError } from '../core/errors.ts';
import type { PinRecord, RoutePublisher } from '../core/ports.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';

/** PinLookup is what ext_proc needs of the table: the server a user is pinned to, if any. */
export interface PinLookup {
  serverFor(user: UserId): string | undefined;
}

/** PinTableOptions: the configured application servers' names, and the pins to start with (restored from the store). */
export interface PinTableOptions {
  readonly servers: readonly string[];
  readonly initialPins?: readonly PinRecord[];
}

/** PinTable holds the pins in force; generation counts changes and is the version a pin or unpin reports. */
export class PinTable implements RoutePublisher, PinLookup {
  readonly #servers: ReadonlySet<string>;
  readonly #pins = new Map<string, PinRecord>();
  #generation = 0;
  readonly #watchers = new Set<(user: UserId, appServer: string | undefined) => void>();
  /** dropped are the initial pins that could not be kept (server no longer configured, or not a canonical UUID). */
  readonly dropped: readonly PinRecord[];

  constructor(opts: PinTableOptions) {
    this.#servers = new Set(opts.servers);
    const dropped: PinRecord[] = [];
    for (const p of opts.initialPins ?? []) {
      const id = parseUserId(p.user);
      if (this.#servers.has(p.appServer) && id.ok && id.value === p.user) this.#pins.set(p.user, p);
      else dropped.push(p);
    }
    this.dropped = Object.freeze(dropped);
  }

  /**
   * pin puts (or replaces) the user's pin. It rejects with PlbError SNAPSHOT_INCONSISTENT, changing nothing, when
   * the pin names a server that is not configured (there is no steering route for it).
   */
  async pin(pin: PinRecord): Promise<{ version: string }> {
    if (!this.#servers.has(pin.appServer)) {
      throw new PlbError('SNAPSHOT_INCONSISTENT', `pin names application server '${pin.appServer}', which is not configured`);
    }
    this.#pins.set(pin.user, Object.freeze({ ...pin }));
    for (const w of this.#watchers) w(pin.user, pin.appServer);
    return { version: this.#bump() };
  }

  /** unpin withdraws the user's pin, if any. */
  async unpin(user: UserId): Promise<{ version: string }> {
    if (!this.#pins.delete(user)) return { version: this.version };
    for (const w of this.#watchers) w(user, undefined);
    return { version: this.#bump() };
  }

  /**
   * watch calls fn with every change from now on (the user's new server, or undefined when unpinned), synchronously
   * with it; the returned function stops the calls. A copy of the table in another thread follows it this way.
   */
  watch(fn: (user: UserId, appServer: string | undefined) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  serverFor(user: UserId): string | undefined {
    return this.#pins.get(user)?.appServer;
  }

  /** version names the table's content: `pins-<generation>`, counting changes since start. */
  get version(): string {
    return `pins-${this.#generation}`;
  }

  /** size is the number of users pinned. */
  get size(): number {
    return this.#pins.size;
  }

  /** pins returns the pins in force, ordered by user. */
  pins(): readonly PinRecord[] {
    return [...this.#pins.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }

  #bump(): string {
    this.#generation++;
    return this.version;
  }
}
