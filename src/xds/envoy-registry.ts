/**
 * EnvoyRegistry is the per-node view of the ADS server: which Envoys (keyed by node cluster and id; the node may
 * be named only on a stream's first request) are connected over which streams, what each has been sent, applied
 * and refused, and which published versions waitForAck can still be asked about. Streams of either protocol (state
 * of the world, delta) are seen through XdsStreamView. It keeps a node's record after its streams close, so a NACK
 * stays visible and is not offered again when the Envoy reconnects.
 */
import type { Snapshot } from './snapshot.ts';
import type { XdsKind } from './resource-types/index.ts';
import type { AckOutcome, EnvoyStatus, NackRecord, NodeIdentity, TypeStatus, WaitForAckOptions, XdsProtocol, XdsStreamView } from './ads-types.ts';

interface NodeRecord {
  readonly identity: NodeIdentity;
  /** streams in attachment order; the last one is the node's current view. */
  readonly streams: XdsStreamView[];
  readonly firstSeenAt: number;
  lastSeenAt: number;
  /** lastStatus is the status of the node's most recently closed stream. */
  lastStatus: readonly TypeStatus[];
  /** lastProtocol is the protocol of the node's most recently attached stream. */
  lastProtocol: XdsProtocol | null;
  /** appliedSeq is the sequence number of the latest snapshot the node has applied in full (-1: none). */
  appliedSeq: number;
  /** appliedVersion is that snapshot's version. */
  appliedVersion: string | null;
  /** nacks holds every version the node refused, per type, with the latest refusal. */
  readonly nacks: Map<XdsKind, Map<string, NackRecord>>;
  /** resourceNacks holds every resource version (`name\nversion`) the node refused over delta, per type. */
  readonly resourceNacks: Map<XdsKind, Map<string, NackRecord>>;
}

interface Published {
  readonly seq: number;
  readonly version: string;
  readonly typeVersions: Readonly<Record<XdsKind, string>>;
}

interface Waiter {
  readonly target: Published;
  readonly nodeId: string | undefined;
  readonly resolve: (o: AckOutcome) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

const nodeKey = (n: NodeIdentity): string => `${n.cluster}\n${n.id}`;
const MAX_NACKS_PER_TYPE = 32;

/** remember puts key → nack at the end of a per-type map, keeping the latest max entries. */
function remember(maps: Map<XdsKind, Map<string, NackRecord>>, kind: XdsKind, key: string, nack: NackRecord, max: number): void {
  let m = maps.get(kind);
  if (!m) maps.set(kind, (m = new Map()));
  m.delete(key);
  m.set(key, nack);
  if (m.size > max) m.delete(m.keys().next().value!);
}

/** EnvoyRegistry tracks nodes, streams and published versions; the ADS server calls it after every event. */
export class EnvoyRegistry {
  readonly #nodes = new Map<string, NodeRecord>();
  readonly #history: Published[] = [];
  readonly #historySize: number;
  readonly #waiters = new Set<Waiter>();
  readonly #now: () => number;
  #current: Published | null = null;

  constructor(opts: { now: () => number; historySize: number }) {
    this.#now = opts.now;
    this.#historySize = opts.historySize;
  }

  /** bind attaches a stream to its node once the stream has named it, and marks the node as seen now. */
  bind(stream: XdsStreamView): void {
    const identity = stream.node;
    if (!identity) return;
    const key = nodeKey(identity);
    let rec = this.#nodes.get(key);
    if (!rec) {
      rec = { identity, streams: [], firstSeenAt: this.#now(), lastSeenAt: this.#now(), lastStatus: [], lastProtocol: null, appliedSeq: -1, appliedVersion: null, nacks: new Map(), resourceNacks: new Map() };
      this.#nodes.set(key, rec);
    }
    if (!rec.streams.includes(stream)) {
      rec.streams.push(stream);
      rec.lastProtocol = stream.protocol;
    }
    rec.lastSeenAt = this.#now();
  }

  /** unbind detaches a closed stream, keeping its last status on the node. */
  unbind(stream: XdsStreamView): void {
    const rec = stream.node && this.#nodes.get(nodeKey(stream.node));
    if (!rec) return;
    const i = rec.streams.indexOf(stream);
    if (i >= 0) rec.streams.splice(i, 1);
    rec.lastStatus = stream.status();
    rec.lastSeenAt = this.#now();
    this.settle(stream.node);
  }

  /** recordNack remembers that the node refused nack.version of kind, and (delta) each resource version it listed. */
  recordNack(node: NodeIdentity, kind: XdsKind, nack: NackRecord): void {
    const rec = this.#nodes.get(nodeKey(node));
    if (!rec) return;
    remember(rec.nacks, kind, nack.version, nack, MAX_NACKS_PER_TYPE);
    for (const r of nack.resources ?? []) remember(rec.resourceNacks, kind, `${r.name}\n${r.version}`, nack, MAX_NACKS_PER_TYPE * 8);
    for (const name of nack.removed ?? []) remember(rec.resourceNacks, kind, `${name}\n`, nack, MAX_NACKS_PER_TYPE * 8);
  }

  /**
   * isRejected tells whether node has refused this version of kind, or, given a name, this version of that resource
   * ('' for its removal).
   */
  isRejected(node: NodeIdentity | null, kind: XdsKind, version: string, name?: string): boolean {
    const rec = node === null ? undefined : this.#nodes.get(nodeKey(node));
    if (!rec) return false;
    return name === undefined ? (rec.nacks.get(kind)?.has(version) ?? false) : (rec.resourceNacks.get(kind)?.has(`${name}\n${version}`) ?? false);
  }

  /** published records a newly published snapshot as the current one. */
  published(snapshot: Snapshot): void {
    const p: Published = { seq: (this.#current?.seq ?? 0) + 1, version: snapshot.version, typeVersions: snapshot.typeVersions() };
    this.#current = p;
    this.#history.push(p);
    if (this.#history.length > this.#historySize) this.#history.shift();
    this.settle();
  }

  /**
   * settle recomputes which nodes have applied the current snapshot and resolves waiters that can be. Given a node,
   * only that node is recomputed: an ACK changes nothing about the others, and recomputing every node on every ACK
   * made one update to N Envoys cost O(N²) (measured with bench/xds-fanout.ts).
   */
  settle(node?: NodeIdentity | null): void {
    const cur = this.#current;
    if (cur) {
      const one = node ? this.#nodes.get(nodeKey(node)) : undefined;
      for (const rec of node ? (one ? [one] : []) : this.#nodes.values()) {
        if (rec.appliedSeq < cur.seq && hasApplied(rec, cur)) {
          rec.appliedSeq = cur.seq;
          rec.appliedVersion = cur.version;
        }
      }
    }
    if (this.#waiters.size === 0) return;
    for (const w of this.#waiters) {
      const o = this.#evaluate(w);
      if (o) this.#finish(w, o);
    }
  }

  /** envoys reports every node seen, connected ones first. */
  envoys(): EnvoyStatus[] {
    const out = [...this.#nodes.values()].map((rec): EnvoyStatus => {
      const live = rec.streams.at(-1);
      return Object.freeze({
        nodeId: rec.identity.id,
        cluster: rec.identity.cluster,
        connected: rec.streams.length > 0,
        streams: rec.streams.length,
        protocol: live?.protocol ?? rec.lastProtocol,
        firstSeenAt: rec.firstSeenAt,
        lastSeenAt: rec.lastSeenAt,
        appliedVersion: rec.appliedVersion,
        types: Object.freeze(live ? live.status() : [...rec.lastStatus]),
      });
    });
    return out.sort((a, b) => Number(b.connected) - Number(a.connected) || a.nodeId.localeCompare(b.nodeId));
  }

  /** waitForAck resolves once the targeted nodes have applied version (or a later snapshot), one refuses it, or time runs out. */
  waitForAck(version: string, opts: WaitForAckOptions): Promise<AckOutcome> {
    const target = [...this.#history].reverse().find((p) => p.version === version);
    if (!target) return Promise.resolve({ status: 'unknown_version', version });
    return new Promise((resolve) => {
      const w: Waiter = {
        target,
        nodeId: opts.nodeId,
        resolve,
        timer: setTimeout(() => this.#finish(w, { status: 'timeout', version, pending: this.#pending(w).map((r) => r.identity) }), opts.timeoutMs),
      };
      const o = this.#evaluate(w);
      if (o) {
        clearTimeout(w.timer);
        resolve(o);
      } else this.#waiters.add(w);
    });
  }

  /** close resolves every pending waiter as timed out. */
  close(): void {
    for (const w of this.#waiters) this.#finish(w, { status: 'timeout', version: w.target.version, pending: this.#pending(w).map((r) => r.identity) });
  }

  #targets(w: Waiter): NodeRecord[] {
    return [...this.#nodes.values()].filter((r) => r.streams.length > 0 && (w.nodeId === undefined || r.identity.id === w.nodeId));
  }

  #pending(w: Waiter): NodeRecord[] {
    return this.#targets(w).filter((r) => r.appliedSeq < w.target.seq);
  }

  #evaluate(w: Waiter): AckOutcome | null {
    const targets = this.#targets(w);
    if (targets.length === 0) return null;
    for (const rec of targets) {
      if (rec.appliedSeq >= w.target.seq) continue;
      for (const [kind, version] of Object.entries(w.target.typeVersions) as [XdsKind, string][]) {
        const nack = rec.nacks.get(kind)?.get(version);
        if (nack && rec.streams.at(-1)?.isSubscribed(kind)) return { status: 'nacked', version: w.target.version, node: rec.identity, kind, nack };
      }
      return null;
    }
    return { status: 'acked', version: w.target.version, nodes: targets.map((r) => r.identity) };
  }

  #finish(w: Waiter, o: AckOutcome): void {
    if (!this.#waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve(o);
  }
}

/** hasApplied is true when the node's current stream has acknowledged cur's version of every type it wants. */
function hasApplied(rec: NodeRecord, cur: Published): boolean {
  const live = rec.streams.at(-1);
  if (!live) return false;
  const kinds = (Object.keys(cur.typeVersions) as XdsKind[]).filter((k) => live.isSubscribed(k));
  return kinds.length > 0 && kinds.every((k) => live.ackedVersion(k) === cur.typeVersions[k]);
}
