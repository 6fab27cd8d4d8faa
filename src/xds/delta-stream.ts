/**
 * DeltaStream is the incremental (delta) protocol state of one DeltaAggregatedResources stream, without I/O: it
 * takes DeltaDiscoveryRequests and snapshots and says which DeltaDiscoveryResponses to write, in order. Rules (xDS
 * REST and gRPC protocol, "Incremental xDS", and Envoy's DeltaSubscriptionState):
 *
 * - Subscriptions are per type. resource_names_subscribe adds names and resource_names_unsubscribe removes them;
 *   '*' in either turns the wildcard subscription on or off. A first request for CDS or LDS that names nothing is
 *   the legacy wildcard subscription. A name subscribed again after the first request is sent again: Envoy may
 *   have dropped its copy.
 * - initial_resource_versions (first request of a type on a stream) say which resources Envoy already holds and at
 *   which version. Every resource has its own version (EncodedResource.version, a content digest, stable across
 *   restarts), so a resource Envoy holds at the snapshot's version is not sent again.
 * - A response carries only what Envoy does not hold: resources at a version Envoy lacks, and in removed_resources
 *   the names Envoy holds (or asked for by name) that the snapshot lacks. A name asked for that never existed is
 *   reported once as removed, so Envoy knows it does not exist.
 * - Each response has a nonce. A request echoing the nonce of a response in flight ACKs it, or NACKs it when it
 *   carries error_detail: Envoy then keeps what it last accepted, and the refused version of each resource is not
 *   sent again on this stream, nor on a later stream of the same node while Envoy holds a version of its own (so a
 *   restarted Envoy is not left without one). A request with an unknown nonce still changes subscriptions.
 * - With no snapshot yet, requests are held: subscriptions and initial versions are recorded, nothing is answered.
 * - Make before break: on a change, the types go out CDS, EDS, LDS, RDS, each in one response (listeners and routes
 *   with their removals). Removals of clusters and endpoints Envoy holds follow, in responses of their own, only once
 *   Envoy holds the current listeners and routes (all ACKed) and removalDrainMs has passed since that ACK (dueAt says
 *   when; requests that picked an old route before it may still be on their way to the router), so no route Envoy uses
 *   ever names a cluster it lost. The other way round, listeners and routes (of one type, in one response) that route
 *   to a cluster Envoy does not hold, or whose assignment it does not hold (it subscribes to that only once it has the
 *   cluster), wait until Envoy has ACKed both; the ACK that completes them releases the routes. A refused cluster or
 *   assignment holds back only the routes that need it (no loop); a later snapshot is measured again.
 */
import type { EncodedResource, Snapshot, TypeSlice } from './snapshot.ts';
import { RESOURCE_TYPES, resourceType, resourceTypeByUrl, type XdsKind } from './resource-types/index.ts';
import type { RequestOutcome } from './ads-stream.ts';
import { assignmentsOf, clustersRoutedBy } from './cluster-references.ts';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, NackRecord, NodeIdentity, RejectedByNode, ResourceStatus, TypeStatus, XdsStreamView } from './ads-types.ts';

/** DeltaOutgoing is one response to write, with the kind it carries. */
export interface DeltaOutgoing {
  readonly kind: XdsKind;
  readonly message: DeltaDiscoveryResponse;
}

/** DeltaStreamOptions are the stream's fixed inputs. */
export interface DeltaStreamOptions {
  readonly now: () => number;
  readonly controlPlaneId: string;
  /** maxInFlight bounds the responses remembered while awaiting ACK (default 256); older ones are forgotten. */
  readonly maxInFlight?: number;
  /** removalDrainMs delays removals past the ACK of the routes that stopped using them (default 0; see AdsServerOptions). */
  readonly removalDrainMs?: number;
}

/** GONE is the version recorded for a name Envoy has been told does not exist. */
const GONE = '';
/** SEEN is how many of the latest snapshots a stream keeps to recognise what Envoy holds (see ackedVersion). */
const SEEN = 8;

interface Acked {
  readonly version: string;
  readonly at: number | null;
}

interface TypeState {
  wildcard: boolean;
  /** names are the names subscribed explicitly. */
  readonly names: Set<string>;
  /** told maps a name to the version Envoy holds or has been sent (GONE: told it does not exist). */
  readonly told: Map<string, string>;
  /** acked maps a name to the version Envoy confirmed holding (ACK, or initial_resource_versions). */
  readonly acked: Map<string, Acked>;
  /** nacks maps a name to the NACK of the latest version sent of it, until Envoy accepts a version of it. */
  readonly nacks: Map<string, NackRecord>;
  /** rejected holds `name\nversion` of every version refused on this stream. */
  readonly rejected: Set<string>;
  lastSent: { readonly version: string; readonly nonce: string; readonly at: number } | null;
  lastNack: NackRecord | null;
  ackedAt: number | null;
  /** synced is the type version of the latest snapshot whose resources (for this subscription) Envoy holds in full. */
  synced: string | null;
}

interface InFlight {
  readonly kind: XdsKind;
  readonly version: string;
  readonly resources: ReadonlyMap<string, string>;
  readonly removed: readonly string[];
}

const key = (name: string, version: string): string => `${name}\n${version}`;

/** entriesOf reads a proto map<string, string> as decoded: a list of {key, value} entries, or a plain object. */
function entriesOf(m: DeltaDiscoveryRequest['initial_resource_versions']): [string, string][] {
  if (!m) return [];
  if (Array.isArray(m)) return (m as readonly { key?: string; value?: string }[]).map((e) => [e.key ?? '', e.value ?? '']);
  return Object.entries(m);
}

/** DeltaStream holds one delta stream's subscriptions and what Envoy holds, has been sent and has acknowledged. */
export class DeltaStream implements XdsStreamView {
  readonly id: number;
  readonly protocol = 'delta' as const;
  #node: NodeIdentity | null = null;
  #nonce = 0;
  /** #seen holds the latest snapshots this stream was given (newest last), so an ACK that arrives after a newer publish still counts. */
  readonly #seen: Snapshot[] = [];
  readonly #types = new Map<XdsKind, TypeState>();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #opts: DeltaStreamOptions;
  #dueAt: number | null = null;

  constructor(id: number, opts: DeltaStreamOptions) {
    this.id = id;
    this.#opts = opts;
  }

  /** node is the Envoy's identity from the first request that carried one (null until then). */
  get node(): NodeIdentity | null {
    return this.#node;
  }

  /** onRequest applies one request (ACK or NACK, then subscription changes) and returns its meaning and the responses to write. */
  onRequest(req: DeltaDiscoveryRequest, snapshot: Snapshot | null, rejected: RejectedByNode): { outcome: RequestOutcome; responses: DeltaOutgoing[] } {
    if (this.#node === null && req.node?.id) this.#node = Object.freeze({ id: req.node.id, cluster: req.node.cluster ?? '' });
    const typeUrl = req.type_url ?? '';
    const type = resourceTypeByUrl(typeUrl);
    if (!type) return { outcome: { type: 'unknown_type', typeUrl }, responses: [] };
    const kind = type.kind;
    const now = this.#opts.now();
    let st = this.#types.get(kind);
    const first = st === undefined;
    if (!st) {
      st = { wildcard: false, names: new Set(), told: new Map(), acked: new Map(), nacks: new Map(), rejected: new Set(), lastSent: null, lastNack: null, ackedAt: null, synced: null };
      this.#types.set(kind, st);
    }

    let outcome: RequestOutcome = { type: 'subscribe', kind };
    const nonce = req.response_nonce ?? '';
    if (nonce !== '') {
      const answered = this.#inFlight.get(nonce);
      if (!answered || answered.kind !== kind) outcome = { type: 'stale', kind, nonce };
      else {
        this.#inFlight.delete(nonce);
        outcome = req.error_detail ? this.#nack(st, answered, req.error_detail, now) : this.#ack(st, answered, now);
      }
    }

    const subscribe = req.resource_names_subscribe ?? [];
    if (first) {
      st.wildcard = subscribe.includes('*') || (type.wildcard && subscribe.length === 0);
      for (const [name, version] of entriesOf(req.initial_resource_versions)) {
        st.told.set(name, version);
        st.acked.set(name, { version, at: null });
      }
    } else if (subscribe.includes('*')) st.wildcard = true;
    for (const name of subscribe) {
      if (name === '*' || st.names.has(name)) continue;
      st.names.add(name);
      if (!first) st.told.delete(name);
    }
    for (const name of req.resource_names_unsubscribe ?? []) {
      if (name === '*') st.wildcard = false;
      else st.names.delete(name);
    }
    if (!st.wildcard) {
      // Envoy drops what it no longer wants; presencelb forgets it too, so a later subscription sends it again.
      for (const name of [...st.told.keys()]) {
        if (!st.names.has(name)) this.#forget(st, name);
      }
    }

    const responses = snapshot ? this.#flush(snapshot, rejected) : [];
    return { outcome, responses };
  }

  /** onSnapshot returns the responses a newly published snapshot calls for, in make-before-break order. */
  onSnapshot(snapshot: Snapshot, rejected: RejectedByNode): DeltaOutgoing[] {
    return this.#flush(snapshot, rejected);
  }

  /** dueAt is when removals held for the drain become due (then onSnapshot with the current snapshot sends them); null when none wait. */
  dueAt(): number | null {
    return this.#dueAt;
  }

  /** isSubscribed is true when the stream currently wants at least one resource of kind. */
  isSubscribed(kind: XdsKind): boolean {
    const st = this.#types.get(kind);
    return st !== undefined && (st.wildcard || st.names.size > 0);
  }

  /** ackedVersion is the type version of the latest snapshot whose resources of kind Envoy holds, all ACKed. */
  ackedVersion(kind: XdsKind): string | null {
    return this.#types.get(kind)?.synced ?? null;
  }

  /** status reports every type the stream has asked for, in push order, with every resource Envoy holds or asked for. */
  status(): TypeStatus[] {
    return RESOURCE_TYPES.flatMap((t) => {
      const st = this.#types.get(t.kind);
      if (!st) return [];
      return [
        Object.freeze({
          kind: t.kind,
          protocol: this.protocol,
          subscribed: st.wildcard ? ('*' as const) : Object.freeze([...st.names].sort()),
          sentVersion: st.lastSent?.version ?? null,
          sentAt: st.lastSent?.at ?? null,
          ackedVersion: st.synced,
          ackedAt: st.ackedAt,
          lastNack: st.lastNack,
          resources: Object.freeze(this.#resourceStatus(t.kind, st)),
        }),
      ];
    });
  }

  #ack(st: TypeState, answered: InFlight, now: number): RequestOutcome {
    for (const [name, version] of answered.resources) {
      st.acked.set(name, { version, at: now });
      st.nacks.delete(name);
    }
    for (const name of answered.removed) {
      st.acked.delete(name);
      st.nacks.delete(name);
      if (!st.names.has(name) && st.told.get(name) === GONE) st.told.delete(name);
    }
    st.ackedAt = now;
    return { type: 'ack', kind: answered.kind, version: answered.version };
  }

  #nack(st: TypeState, answered: InFlight, detail: { code?: number; message?: string }, now: number): RequestOutcome {
    const nack: NackRecord = Object.freeze({
      version: answered.version,
      message: detail.message ?? '',
      code: detail.code ?? null,
      at: now,
      resources: Object.freeze([...answered.resources].map(([name, version]) => Object.freeze({ name, version }))),
      removed: Object.freeze([...answered.removed]),
    });
    st.lastNack = nack;
    const refused: [string, string][] = [...answered.resources, ...answered.removed.map((n): [string, string] => [n, GONE])];
    for (const [name, version] of refused) {
      st.rejected.add(key(name, version));
      st.nacks.set(name, nack);
      // Envoy kept what it last accepted; a later response in flight, if any, is still on its way.
      if (st.told.get(name) === version) {
        const had = st.acked.get(name);
        if (had) st.told.set(name, had.version);
        else st.told.delete(name);
      }
    }
    return { type: 'nack', kind: answered.kind, nack };
  }

  #forget(st: TypeState, name: string): void {
    st.told.delete(name);
    st.acked.delete(name);
    st.nacks.delete(name);
  }

  /** #wanted maps every name the subscription concerns to the snapshot's resource, or null where the snapshot has none. */
  #wanted(st: TypeState, slice: TypeSlice): Map<string, EncodedResource | null> {
    const out = new Map<string, EncodedResource | null>();
    for (const r of slice.resources.values()) if (st.wildcard || st.names.has(r.name)) out.set(r.name, r);
    for (const name of st.names) if (!slice.resources.has(name)) out.set(name, null);
    for (const name of st.told.keys()) if (!out.has(name)) out.set(name, null);
    return out;
  }

  #flush(snapshot: Snapshot, rejected: RejectedByNode): DeltaOutgoing[] {
    if (this.#seen.at(-1) !== snapshot) {
      this.#seen.push(snapshot);
      if (this.#seen.length > SEEN) this.#seen.shift();
    }
    const out: DeltaOutgoing[] = [];
    const deferred: [XdsKind, string[]][] = [];
    const cold = (kind: XdsKind, updates: readonly EncodedResource[]) => (kind === 'LDS' || kind === 'RDS') && updates.some((r) => !this.#warm(snapshot, kind, r.name));
    for (const t of RESOURCE_TYPES) {
      const st = this.#types.get(t.kind);
      if (!st) continue;
      const breaks = t.kind === 'CDS' || t.kind === 'EDS';
      const updates: EncodedResource[] = [];
      const removals: string[] = [];
      const held: string[] = [];
      for (const [name, r] of this.#wanted(st, snapshot.slice(t.kind))) {
        const version = r?.version ?? GONE;
        const have = st.told.get(name);
        if (have === version) continue;
        if (st.rejected.has(key(name, version)) || (st.acked.has(name) && rejected(t.kind, version, name))) continue;
        if (r) updates.push(r);
        // A cluster or its endpoints Envoy holds is removed last; a name Envoy never had is reported at once.
        else (breaks && have !== undefined ? held : removals).push(name);
      }
      if (held.length > 0) deferred.push([t.kind, held]);
      // Listeners and routes that need a cluster Envoy does not hold warm wait, whole, for the ACK that warms it.
      if (cold(t.kind, updates)) continue;
      if (updates.length > 0 || removals.length > 0) out.push(this.#send(t.kind, st, snapshot, updates, removals));
    }
    this.#dueAt = null;
    if (deferred.length > 0 && this.#holdsCurrent('LDS') && this.#holdsCurrent('RDS')) {
      // Requests that picked a route before the update may still be on their way to the router: drain them first.
      const due = Math.max(this.#types.get('LDS')?.ackedAt ?? 0, this.#types.get('RDS')?.ackedAt ?? 0) + (this.#opts.removalDrainMs ?? 0);
      if (this.#opts.now() < due) this.#dueAt = due;
      else for (const [kind, removals] of deferred) out.push(this.#send(kind, this.#types.get(kind)!, snapshot, [], removals));
    }
    this.#sync();
    return out;
  }

  /**
   * #warm is true when Envoy holds every cluster the listener or route configuration kind/name of snapshot routes to
   * (ACKed, or reported in initial_resource_versions), and the assignment each asks EDS for. A stream without CDS
   * (or EDS) gets no clusters (or assignments) from presencelb, so waits for none.
   */
  #warm(snapshot: Snapshot, kind: 'LDS' | 'RDS', name: string): boolean {
    const cds = this.#types.get('CDS');
    if (!cds) return true;
    const eds = this.#types.get('EDS');
    return clustersRoutedBy(snapshot, kind, name).every(
      (c) => (!cds.wildcard && !cds.names.has(c)) || (cds.acked.has(c) && (!eds || assignmentsOf(snapshot, c).every((a) => eds.acked.has(a)))),
    );
  }

  #send(kind: XdsKind, st: TypeState, snapshot: Snapshot, updates: readonly EncodedResource[], removals: readonly string[]): DeltaOutgoing {
    const nonce = String(++this.#nonce);
    const version = snapshot.typeVersion(kind);
    for (const r of updates) st.told.set(r.name, r.version);
    for (const name of removals) st.told.set(name, GONE);
    this.#inFlight.set(nonce, { kind, version, resources: new Map(updates.map((r) => [r.name, r.version])), removed: removals });
    const max = this.#opts.maxInFlight ?? 256;
    if (this.#inFlight.size > max) this.#inFlight.delete(this.#inFlight.keys().next().value!);
    st.lastSent = { version, nonce, at: this.#opts.now() };
    const typeUrl = resourceType(kind).typeUrl;
    const message: DeltaDiscoveryResponse = {
      system_version_info: version,
      type_url: typeUrl,
      nonce,
      resources: updates.map((r) => ({ name: r.name, version: r.version, resource: { type_url: typeUrl, value: r.value } })),
      removed_resources: removals,
      control_plane: { identifier: this.#opts.controlPlaneId },
    };
    return { kind, message };
  }

  /** #holdsCurrent is true when Envoy has ACKed the current snapshot's resources of kind and nothing of kind is in flight (trivially, if it wants none). */
  #holdsCurrent(kind: XdsKind): boolean {
    const st = this.#types.get(kind);
    const snapshot = this.#seen.at(-1);
    if (!st || !snapshot) return true;
    for (const f of this.#inFlight.values()) if (f.kind === kind) return false;
    return this.#holds(st, snapshot.slice(kind));
  }

  /** #holds is true when the versions Envoy ACKed are exactly slice's, for what the subscription wants. */
  #holds(st: TypeState, slice: TypeSlice): boolean {
    for (const [name, r] of this.#wanted(st, slice)) {
      if ((st.acked.get(name)?.version ?? GONE) !== (r?.version ?? GONE)) return false;
    }
    return true;
  }

  /** #sync sets each type's synced version: the current snapshot's if Envoy holds it, else the newest earlier one it holds. */
  #sync(): void {
    const current = this.#seen.at(-1);
    if (!current) return;
    for (const [kind, st] of this.#types) {
      if (this.#holdsCurrent(kind)) {
        st.synced = current.typeVersion(kind);
        continue;
      }
      for (let i = this.#seen.length - 2; i >= 0; i--) {
        const earlier = this.#seen[i]!;
        if (this.#holds(st, earlier.slice(kind))) {
          st.synced = earlier.typeVersion(kind);
          break;
        }
      }
    }
  }

  #resourceStatus(kind: XdsKind, st: TypeState): ResourceStatus[] {
    const pending = new Map<string, string>();
    for (const f of this.#inFlight.values()) {
      if (f.kind !== kind) continue;
      for (const [name, version] of f.resources) pending.set(name, version);
      for (const name of f.removed) pending.set(name, GONE);
    }
    const names = new Set([...st.told.keys(), ...st.acked.keys(), ...st.names, ...st.nacks.keys()]);
    return [...names].sort().map((name) => {
      const acked = st.acked.get(name);
      return Object.freeze({ name, ackedVersion: acked?.version ?? null, ackedAt: acked?.at ?? null, pendingVersion: pending.get(name) ?? null, nack: st.nacks.get(name) ?? null });
    });
  }
}
