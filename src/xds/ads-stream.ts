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
 */
import type { Snapshot, EncodedResource } from './snapshot.ts';
import { RESOURCE_TYPES, resourceType, resourceTypeByUrl, type XdsKind } from './resource-types/index.ts';
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
  readonly at: number;
  /** answered turns true when Envoy ACKs or NACKs this response. */
  answered: boolean;
}

interface Subscription {
  wildcard: boolean;
  names: ReadonlySet<string>;
  sent: Sent | null;
  ackedVersion: string | null;
  ackedAt: number | null;
  /** ackedNames are the names of the response Envoy last ACKed (null: not known, e.g. a version reported on reconnect). */
  ackedNames: ReadonlySet<string> | null;
  lastNack: NackRecord | null;
  /** standing is the last NACK with the names it refused, until Envoy ACKs a later response. */
  standing: { readonly nack: NackRecord; readonly names: readonly string[] } | null;
}

/** AdsStreamOptions are the stream's fixed inputs. */
export interface AdsStreamOptions {
  readonly now: () => number;
  readonly controlPlaneId: string;
}

/** AdsStream holds one stream's subscriptions and what it has been sent and has acknowledged. */
export class AdsStream implements XdsStreamView {
  readonly id: number;
  readonly protocol = 'sotw' as const;
  #node: NodeIdentity | null = null;
  #nonce = 0;
  readonly #subs = new Map<XdsKind, Subscription>();
  readonly #opts: AdsStreamOptions;

  constructor(id: number, opts: AdsStreamOptions) {
    this.id = id;
    this.#opts = opts;
  }

  /** node is the Envoy's identity from the first request that carried one (null until then). */
  get node(): NodeIdentity | null {
    return this.#node;
  }

  /** onRequest applies one request and returns its meaning and the responses to write (at most one). */
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
      sub = { wildcard: false, names: new Set(), sent: null, ackedVersion: req.version_info || null, ackedAt: null, ackedNames: null, lastNack: null, standing: null };
      this.#subs.set(kind, sub);
      outcome = { type: 'subscribe', kind };
    } else if (sub.sent && nonce === sub.sent.nonce && req.error_detail) {
      const nack: NackRecord = Object.freeze({ version: sub.sent.version, message: req.error_detail.message ?? '', code: req.error_detail.code ?? null, at: now });
      sub.lastNack = nack;
      sub.standing = { nack, names: sub.sent.names };
      sub.sent.answered = true;
      sub.ackedVersion = req.version_info || null;
      outcome = { type: 'nack', kind, nack };
    } else if (sub.sent && nonce === sub.sent.nonce) {
      sub.ackedVersion = req.version_info || null;
      sub.ackedAt = now;
      if (!sub.sent.answered) {
        sub.ackedNames = new Set(sub.sent.names);
        sub.standing = null;
      }
      sub.sent.answered = true;
      outcome = { type: 'ack', kind, version: sub.ackedVersion ?? '' };
    } else {
      outcome = { type: 'subscribe', kind };
    }
    const names = req.resource_names ?? [];
    sub.wildcard = names.includes('*') || (type.wildcard && names.length === 0);
    sub.names = new Set(names.filter((n) => n !== '*'));

    const response = snapshot ? this.#respond(kind, sub, snapshot, rejected) : null;
    return { outcome, responses: response ? [response] : [] };
  }

  /** onSnapshot returns the responses a newly published snapshot calls for, in make-before-break order. */
  onSnapshot(snapshot: Snapshot, rejected: RejectedByNode): Outgoing[] {
    const out: Outgoing[] = [];
    for (const t of RESOURCE_TYPES) {
      const sub = this.#subs.get(t.kind);
      const r = sub ? this.#respond(t.kind, sub, snapshot, rejected) : null;
      if (r) out.push(r);
    }
    return out;
  }

  /** isSubscribed is true when the stream currently wants at least one resource of kind. */
  isSubscribed(kind: XdsKind): boolean {
    const sub = this.#subs.get(kind);
    return sub !== undefined && (sub.wildcard || sub.names.size > 0);
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

  #respond(kind: XdsKind, sub: Subscription, snapshot: Snapshot, rejected: RejectedByNode): Outgoing | null {
    if (!sub.wildcard && sub.names.size === 0) return null;
    const slice = snapshot.slice(kind);
    const chosen: EncodedResource[] = [...slice.resources.values()].filter((r) => sub.wildcard || sub.names.has(r.name));
    const key = `${slice.version}|${chosen.map((r) => r.name).join('\n')}`;
    if (sub.sent?.key === key) return null;
    if (sub.sent === null && sub.ackedVersion !== null && rejected(kind, slice.version)) return null;
    const nonce = String(++this.#nonce);
    sub.sent = { version: slice.version, nonce, key, names: chosen.map((r) => r.name), at: this.#opts.now(), answered: false };
    const typeUrl = resourceType(kind).typeUrl;
    const message: DiscoveryResponse = {
      version_info: slice.version,
      type_url: typeUrl,
      nonce,
      resources: chosen.map((r) => ({ type_url: typeUrl, value: r.value })),
      control_plane: { identifier: this.#opts.controlPlaneId },
    };
    return { kind, message };
  }
}

/**
 * resourceStatus lists the resources of one subscription: those of the last response, or the names asked for
 * before any was sent. State of the world has one version per response, so each resource reports the type's.
 */
function resourceStatus(s: Subscription): ResourceStatus[] {
  const names = new Set([...(s.sent?.names ?? []), ...s.names]);
  const sent = s.sent;
  return [...names].sort().map((name) => {
    const inSent = sent !== null && sent.names.includes(name);
    const holds = s.ackedVersion !== null && (s.ackedNames === null || s.ackedNames.has(name));
    return Object.freeze({
      name,
      ackedVersion: holds ? s.ackedVersion : null,
      ackedAt: holds ? s.ackedAt : null,
      pendingVersion: inSent && !sent.answered ? sent.version : null,
      nack: s.standing?.names.includes(name) ? s.standing.nack : null,
    });
  });
}
