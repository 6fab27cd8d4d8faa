/**
 * AdsStream is the state-of-the-world protocol state of one StreamAggregatedResources stream, without I/O: it
 * takes DiscoveryRequests and snapshots and says which DiscoveryResponses to write, in order. Rules (xDS REST and
 * gRPC protocol, "Basic Protocol Overview" and "ACK/NACK and resource type instance version"):
 *
 * - A type is subscribed by the stream's first request for its type URL. For CDS and LDS an empty resource_names
 *   (or '*') is a wildcard subscription; for EDS and RDS only the names asked for are sent, and an empty list
 *   means nothing is wanted.
 * - Nonces are per stream and increase. A request whose response_nonce is not the nonce last sent for its type is
 *   stale and ignored entirely. A request echoing the last nonce is an ACK, or a NACK when it carries error_detail
 *   (then version_info is the version Envoy kept).
 * - With no snapshot yet, requests are held: subscriptions are recorded and nothing is answered.
 * - A response is written only when it would differ from the last one written for the type on this stream
 *   (version or set of resources): so a NACKed version is never sent again in reply to the NACK, and ACKs get no
 *   reply. On a new stream, a version the node already NACKed on an earlier stream is not offered again while Envoy
 *   reports it still holds a configuration of its own.
 * - Make before break: a snapshot's types go out CDS, EDS, LDS, RDS. Clusters Envoy holds (those of the last CDS
 *   response sent, or of the one it ACKed when it refused that) that the snapshot lacks are removed last: until Envoy
 *   has ACKed the snapshot's LDS and RDS (those the stream subscribes to), and for removalDrainMs after that ACK (dueAt
 *   says when; requests that picked an old route may still be on their way to the router), CDS carries them too, as
 *   they were sent, under the intermediate version `<CDS version>+stale-<digest of the kept clusters>`, and EDS keeps
 *   serving the assignments Envoy asks for that the snapshot lacks (`<EDS version>+stale-<digest>`). The snapshot's own
 *   CDS and EDS follow in reply to that ACK. An intermediate version is no snapshot's, so a type counts as applied
 *   (ackedVersion equal to the snapshot's) only once its final version is ACKed. A new snapshot meanwhile is measured
 *   against what Envoy holds then; a refused response is not offered again, so a NACK cannot loop (a refused route
 *   update keeps the clusters until a later snapshot). On a new stream Envoy reports only a version, not which clusters
 *   it holds, so nothing is kept until presencelb has sent CDS on that stream.
 * - Make before break on addition: Envoy asks EDS for a new cluster's assignment only once it has the cluster, and
 *   a route to a cluster still warming fails. So the snapshot's LDS and RDS go out only when every cluster the
 *   listeners and routes the stream wants refer to is warm: in the CDS response Envoy last ACKed on this stream, and
 *   its assignment in the EDS response Envoy last ACKed (when the stream subscribes to EDS at all; a cluster with no
 *   EDS assignment needs none). Until then Envoy keeps the listeners and routes it has; the ACK that makes the last
 *   cluster warm releases them (then the removal above follows their ACK). A held snapshot replaced by another is
 *   measured the same way. A refused CDS or EDS leaves its clusters cold, so routes to them are not sent (no
 *   loop); a later snapshot whose routes need only warm clusters goes out. On a new stream nothing is known warm,
 *   so the routes wait for the first CDS and EDS ACKs there.
 */
import { createHash } from 'node:crypto';
import type { Snapshot, EncodedResource } from './snapshot.ts';
import { RESOURCE_TYPES, resourceType, resourceTypeByUrl, type XdsKind } from './resource-types/index.ts';
import { assignmentsOf, clustersRoutedBy } from './cluster-references.ts';
import type { DiscoveryRequest, DiscoveryResponse, NackRecord, NodeIdentity, RejectedByNode, ResourceStatus, TypeStatus, XdsStreamView } from './ads-types.ts';

export type { RejectedByNode } from './ads-types.ts';

/** RequestOutcome says what one request meant ('stale': its nonce is not the one awaited; delta: not one in flight). */
export type RequestOutcome =
  | { readonly type: 'subscribe'; readonly kind: XdsKind }
  | { readonly type: 'ack'; readonly kind: XdsKind; readonly version: string }
  | { readonly type: 'nack'; readonly kind: XdsKind; readonly nack: NackRecord }
  | { readonly type: 'stale'; readonly kind: XdsKind; readonly nonce: string }
  | { readonly type: 'unknown_type'; readonly typeUrl: string };

/** Outgoing is one response to write, with the kind it carries. */
export interface Outgoing {
  readonly kind: XdsKind;
  readonly message: DiscoveryResponse;
}

interface Sent {
  readonly version: string;
  readonly nonce: string;
  /** key identifies the response's content: version and resource names. */
  readonly key: string;
  readonly names: readonly string[];
  /** resources are the encodings sent, in name order (what Envoy will hold once it accepts the response). */
  readonly resources: readonly EncodedResource[];
  readonly at: number;
  /** answer is Envoy's verdict on this response ('pending' until it ACKs or NACKs it). */
  answer: 'pending' | 'acked' | 'nacked';
}

/** Target is the response a subscription calls for now: a version and the resources it carries, in name order. */
interface Target {
  readonly version: string;
  readonly resources: readonly EncodedResource[];
}

/** Carry is what make-before-break keeps beyond a snapshot: clusters it lacks that Envoy holds, and their assignments. */
interface Carry {
  readonly CDS: readonly EncodedResource[];
  readonly EDS: readonly EncodedResource[];
}

interface Subscription {
  wildcard: boolean;
  names: ReadonlySet<string>;
  sent: Sent | null;
  ackedVersion: string | null;
  ackedAt: number | null;
  /** acked are the resources of the response Envoy last ACKed, by name (null: not known, e.g. a version reported on reconnect). */
  acked: ReadonlyMap<string, EncodedResource> | null;
  lastNack: NackRecord | null;
  /** standing is the last NACK with the names it refused, until Envoy ACKs a later response. */
  standing: { readonly nack: NackRecord; readonly names: readonly string[] } | null;
}

/** AdsStreamOptions are the stream's fixed inputs. */
export interface AdsStreamOptions {
  readonly now: () => number;
  readonly controlPlaneId: string;
  /** removalDrainMs delays the final CDS and EDS past the ACK of the routes that stopped using the removed clusters (default 0; see AdsServerOptions). */
  readonly removalDrainMs?: number;
}

/** AdsStream holds one stream's subscriptions and what it has been sent and has acknowledged. */
export class AdsStream implements XdsStreamView {
  readonly id: number;
  readonly protocol = 'sotw' as const;
  #node: NodeIdentity | null = null;
  #nonce = 0;
  readonly #subs = new Map<XdsKind, Subscription>();
  readonly #opts: AdsStreamOptions;
  #dueAt: number | null = null;

  constructor(id: number, opts: AdsStreamOptions) {
    this.id = id;
    this.#opts = opts;
  }

  /** node is the Envoy's identity from the first request that carried one (null until then). */
  get node(): NodeIdentity | null {
    return this.#node;
  }

  /**
   * onRequest applies one request and returns its meaning and the responses to write (the ACK of new routes may
   * release the final CDS and EDS; the ACK that warms an added cluster may release the routes).
   */
  onRequest(req: DiscoveryRequest, snapshot: Snapshot | null, rejected: RejectedByNode): { outcome: RequestOutcome; responses: Outgoing[] } {
    if (this.#node === null && req.node?.id) this.#node = Object.freeze({ id: req.node.id, cluster: req.node.cluster ?? '' });
    const typeUrl = req.type_url ?? '';
    const type = resourceTypeByUrl(typeUrl);
    if (!type) return { outcome: { type: 'unknown_type', typeUrl }, responses: [] };
    const kind = type.kind;
    const nonce = req.response_nonce ?? '';
    let sub = this.#subs.get(kind);
    if (sub?.sent && nonce !== '' && nonce !== sub.sent.nonce) return { outcome: { type: 'stale', kind, nonce }, responses: [] };

    const now = this.#opts.now();
    let outcome: RequestOutcome;
    if (!sub) {
      sub = { wildcard: false, names: new Set(), sent: null, ackedVersion: req.version_info || null, ackedAt: null, acked: null, lastNack: null, standing: null };
      this.#subs.set(kind, sub);
      outcome = { type: 'subscribe', kind };
    } else if (sub.sent && nonce === sub.sent.nonce && req.error_detail) {
      const nack: NackRecord = Object.freeze({ version: sub.sent.version, message: req.error_detail.message ?? '', code: req.error_detail.code ?? null, at: now });
      sub.lastNack = nack;
      sub.standing = { nack, names: sub.sent.names };
      sub.sent.answer = 'nacked';
      sub.ackedVersion = req.version_info || null;
      outcome = { type: 'nack', kind, nack };
    } else if (sub.sent && nonce === sub.sent.nonce) {
      sub.ackedVersion = req.version_info || null;
      sub.ackedAt = now;
      if (sub.sent.answer === 'pending') {
        sub.acked = new Map(sub.sent.resources.map((r) => [r.name, r]));
        sub.standing = null;
        sub.sent.answer = 'acked';
      }
      outcome = { type: 'ack', kind, version: sub.ackedVersion ?? '' };
    } else {
      outcome = { type: 'subscribe', kind };
    }
    const names = req.resource_names ?? [];
    sub.wildcard = names.includes('*') || (type.wildcard && names.length === 0);
    sub.names = new Set(names.filter((n) => n !== '*'));

    return { outcome, responses: snapshot ? this.#flush(snapshot, rejected) : [] };
  }

  /** onSnapshot returns the responses a newly published snapshot calls for, in make-before-break order. */
  onSnapshot(snapshot: Snapshot, rejected: RejectedByNode): Outgoing[] {
    return this.#flush(snapshot, rejected);
  }

  /** dueAt is when clusters kept for the drain may go (then onSnapshot with the current snapshot sends the final CDS and EDS); null when none wait. */
  dueAt(): number | null {
    return this.#dueAt;
  }

  /** isSubscribed is true when the stream currently wants at least one resource of kind. */
  isSubscribed(kind: XdsKind): boolean {
    const sub = this.#subs.get(kind);
    return sub !== undefined && wants(sub);
  }

  /** ackedVersion is the version of kind Envoy last reported as applied on this stream. */
  ackedVersion(kind: XdsKind): string | null {
    return this.#subs.get(kind)?.ackedVersion ?? null;
  }

  /** status reports every type the stream has asked for, in push order. */
  status(): TypeStatus[] {
    return RESOURCE_TYPES.flatMap((t) => {
      const s = this.#subs.get(t.kind);
      if (!s) return [];
      return [
        Object.freeze({
          kind: t.kind,
          subscribed: s.wildcard ? ('*' as const) : Object.freeze([...s.names].sort()),
          sentVersion: s.sent?.version ?? null,
          sentAt: s.sent?.at ?? null,
          ackedVersion: s.ackedVersion,
          ackedAt: s.ackedAt,
          lastNack: s.lastNack,
          protocol: this.protocol,
          resources: Object.freeze(resourceStatus(s)),
        }),
      ];
    });
  }

  /**
   * #flush returns every response the stream's state and snapshot call for, in push order: after a new snapshot,
   * after a subscription change, after the ACK that lets the final CDS and EDS go out, and after the ACK that warms
   * the clusters held-back listeners and routes need.
   */
  #flush(snapshot: Snapshot, rejected: RejectedByNode): Outgoing[] {
    this.#dueAt = null;
    const carry = this.#carry(snapshot);
    const out: Outgoing[] = [];
    let warm: boolean | undefined;
    for (const t of RESOURCE_TYPES) {
      const sub = this.#subs.get(t.kind);
      if (!sub || !wants(sub)) continue;
      const want = target(t.kind, sub, snapshot, carry);
      if ((t.kind === 'LDS' || t.kind === 'RDS') && sub.sent?.key !== keyOf(want) && !(warm ??= this.#warm(snapshot))) continue;
      const r = this.#respond(t.kind, sub, want, rejected);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * #warm is true when Envoy holds, warmed, every cluster that the snapshot's listeners and routes the stream wants
   * refer to (a listener through the route configurations it names): each is in the CDS response Envoy last ACKed on
   * this stream, and so is each assignment it asks EDS for in the EDS response Envoy last ACKed. A stream without
   * CDS (or EDS) gets no clusters (or assignments) from presencelb, so waits for none; a cluster that is not of EDS
   * type needs no assignment.
   */
  #warm(snapshot: Snapshot): boolean {
    const cds = this.#subs.get('CDS');
    if (!cds) return true;
    const eds = this.#subs.get('EDS');
    const needed = new Set<string>();
    for (const kind of ['LDS', 'RDS'] as const) {
      const sub = this.#subs.get(kind);
      if (!sub || !wants(sub)) continue;
      for (const name of snapshot.slice(kind).resources.keys()) if (wants(sub, name)) for (const c of clustersRoutedBy(snapshot, kind, name)) needed.add(c);
    }
    for (const cluster of needed) {
      if (!wants(cds, cluster)) continue;
      if (!cds.acked?.has(cluster)) return false;
      if (eds && !assignmentsOf(snapshot, cluster).every((a) => eds.acked?.has(a))) return false;
    }
    return true;
  }

  /**
   * #carry returns the clusters Envoy holds that snapshot lacks, with the assignments Envoy holds and asks for that
   * snapshot lacks, while Envoy may still route to them: until it has ACKed the snapshot's LDS and RDS, and for
   * removalDrainMs after that (setting dueAt). Null when nothing needs keeping.
   */
  #carry(snapshot: Snapshot): Carry | null {
    const cds = this.#subs.get('CDS');
    if (!cds) return null;
    const clusters = snapshot.slice('CDS').resources;
    const stale = [...held(cds).values()].filter((r) => !clusters.has(r.name) && wants(cds, r.name));
    if (stale.length === 0) return null;
    if (this.#holdsRoutes(snapshot, 'LDS') && this.#holdsRoutes(snapshot, 'RDS')) {
      // Requests that picked a route before the update may still be on their way to the router: drain them first.
      const due = Math.max(this.#subs.get('LDS')?.ackedAt ?? 0, this.#subs.get('RDS')?.ackedAt ?? 0) + (this.#opts.removalDrainMs ?? 0);
      if (this.#opts.now() >= due) return null;
      this.#dueAt = due;
    }
    const eds = this.#subs.get('EDS');
    const assignments = snapshot.slice('EDS').resources;
    const kept = eds ? [...held(eds).values()].filter((r) => !assignments.has(r.name) && wants(eds, r.name)) : [];
    return { CDS: stale, EDS: kept };
  }

  /** #holdsRoutes is true when Envoy has ACKed the snapshot's response of kind (LDS or RDS), or wants none of it. */
  #holdsRoutes(snapshot: Snapshot, kind: 'LDS' | 'RDS'): boolean {
    const sub = this.#subs.get(kind);
    if (!sub || !wants(sub)) return true;
    return sub.sent !== null && sub.sent.answer === 'acked' && sub.sent.key === keyOf(target(kind, sub, snapshot, null));
  }

  #respond(kind: XdsKind, sub: Subscription, want: Target, rejected: RejectedByNode): Outgoing | null {
    const key = keyOf(want);
    if (sub.sent?.key === key) return null;
    if (sub.sent === null && sub.ackedVersion !== null && rejected(kind, want.version)) return null;
    const nonce = String(++this.#nonce);
    sub.sent = { version: want.version, nonce, key, names: want.resources.map((r) => r.name), resources: want.resources, at: this.#opts.now(), answer: 'pending' };
    const typeUrl = resourceType(kind).typeUrl;
    const message: DiscoveryResponse = {
      version_info: want.version,
      type_url: typeUrl,
      nonce,
      resources: want.resources.map((r) => ({ type_url: typeUrl, value: r.value })),
      control_plane: { identifier: this.#opts.controlPlaneId },
    };
    return { kind, message };
  }
}

/** wants is true when the subscription asks for name (any name, without one), wildcard or by name. */
const wants = (sub: Subscription, name?: string): boolean => sub.wildcard || (name === undefined ? sub.names.size > 0 : sub.names.has(name));

/** keyOf identifies a response's content: its version and the names it carries. */
const keyOf = (t: Target): string => `${t.version}|${t.resources.map((r) => r.name).join('\n')}`;

/** held maps the resources Envoy holds once it has taken its answer on the last response: that response's, or the ACKed ones if it refused it. */
function held(sub: Subscription): ReadonlyMap<string, EncodedResource> {
  if (sub.sent && sub.sent.answer !== 'nacked') return new Map(sub.sent.resources.map((r) => [r.name, r]));
  return sub.acked ?? new Map();
}

/** target is the response kind calls for: the snapshot's resources the subscription wants, plus what carry keeps (under an intermediate version). */
function target(kind: XdsKind, sub: Subscription, snapshot: Snapshot, carry: Carry | null): Target {
  const slice = snapshot.slice(kind);
  const own = [...slice.resources.values()].filter((r) => wants(sub, r.name));
  const kept = kind === 'CDS' || kind === 'EDS' ? (carry?.[kind] ?? []) : [];
  if (kept.length === 0) return { version: slice.version, resources: own };
  const h = createHash('sha256');
  for (const r of kept) h.update(`${r.name.length}:${r.name}`).update(r.value).update('\0');
  return { version: `${slice.version}+stale-${h.digest('hex').slice(0, 16)}`, resources: [...own, ...kept].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}

/**
 * resourceStatus lists the resources of one subscription: those of the last response, those Envoy ACKed (a removal
 * in flight has pendingVersion ''), or the names asked for before any was sent. State of the world has one version
 * per response, so each resource reports the type's.
 */
function resourceStatus(s: Subscription): ResourceStatus[] {
  const names = new Set([...(s.sent?.names ?? []), ...(s.acked?.keys() ?? []), ...s.names]);
  const sent = s.sent;
  const pending = sent !== null && sent.answer === 'pending';
  return [...names].sort().map((name) => {
    const inSent = sent !== null && sent.names.includes(name);
    const holds = s.ackedVersion !== null && (s.acked === null || s.acked.has(name));
    return Object.freeze({
      name,
      ackedVersion: holds ? s.ackedVersion : null,
      ackedAt: holds ? s.ackedAt : null,
      pendingVersion: !pending ? null : inSent ? sent.version : holds ? '' : null,
      nack: s.standing?.names.includes(name) ? s.standing.nack : null,
    });
  });
}
