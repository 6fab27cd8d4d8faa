/**
 * AdsServer is presencelb's Envoy management server, over grpc-js: the Aggregated Discovery Service in both
 * variants (envoy.service.discovery.v3.AggregatedDiscoveryService: StreamAggregatedResources, state of the world,
 * and DeltaAggregatedResources, incremental), and CSDS (envoy.service.status.v3.ClientStatusDiscoveryService) on
 * the same port. It serves CDS, EDS, RDS and LDS from the current Snapshot; the per-stream protocol lives in
 * AdsStream and DeltaStream (pure), the per-Envoy view in EnvoyRegistry, CSDS's answers in csds.ts. Until the first
 * snapshot is published, requests are held, so a restarted presencelb never sends Envoy an empty configuration.
 * The server imports the snapshot (the cache), never the reverse.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { serviceDefinition } from '../protos/envoy.ts';
import type { Logger } from '../core/ports.ts';
import type { Snapshot } from './snapshot.ts';
import type { XdsKind } from './resource-types/index.ts';
import { AdsStream, type RequestOutcome } from './ads-stream.ts';
import { DeltaStream } from './delta-stream.ts';
import { EnvoyRegistry } from './envoy-registry.ts';
import { CSDS_SERVICE, csdsHandlers } from './csds.ts';
import type {
  AckOutcome,
  AdsEvent,
  AdsServerOptions,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  EnvoyStatus,
  RejectedByNode,
  WaitForAckOptions,
  XdsStreamView,
} from './ads-types.ts';
import { REMOVAL_DRAIN_MS } from './ads-types.ts';

/** ADS_SERVICE is the full name of the gRPC service AdsServer implements. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** ProtocolStream is what both per-stream protocol states offer the server: requests and snapshots in, responses out. */
interface ProtocolStream<Req, Res> extends XdsStreamView {
  onRequest(req: Req, snapshot: Snapshot | null, rejected: RejectedByNode): { outcome: RequestOutcome; responses: { kind: XdsKind; message: Res }[] };
  onSnapshot(snapshot: Snapshot, rejected: RejectedByNode): { kind: XdsKind; message: Res }[];
  /** dueAt is when removals held for the drain become due: onSnapshot with the current snapshot then sends them. */
  dueAt(): number | null;
}

/** Summary is what the server logs and reports of one response. */
interface Summary {
  readonly version: string;
  readonly nonce: string;
  readonly resources: number;
  readonly removed: number;
  readonly bytes: number;
}

const sotwSummary = (r: DiscoveryResponse): Summary => ({
  version: r.version_info,
  nonce: r.nonce,
  resources: r.resources.length,
  removed: 0,
  bytes: r.resources.reduce((n, x) => n + x.value.length, 0),
});

const deltaSummary = (r: DeltaDiscoveryResponse): Summary => ({
  version: r.system_version_info,
  nonce: r.nonce,
  resources: r.resources.length,
  removed: r.removed_resources.length,
  bytes: r.resources.reduce((n, x) => n + x.resource.value.length, 0),
});

/** Attached is one open stream as the server drives it. */
interface Attached {
  push(snapshot: Snapshot): void;
  end(): void;
}

/** AdsServer serves snapshots to Envoys over ADS. One instance per listening address; start, publish, stop. */
export class AdsServer {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onEvent: (e: AdsEvent) => void;
  readonly #controlPlaneId: string;
  readonly #removalDrainMs: number;
  readonly #registry: EnvoyRegistry;
  readonly #streams = new Map<XdsStreamView, Attached>();
  #server: Server | null = null;
  #snapshot: Snapshot | null = null;
  #nextStreamId = 1;

  constructor(opts: AdsServerOptions) {
    this.#log = opts.logger.child({ component: 'xds' });
    const clock = opts.clock ?? { now: () => Date.now() };
    this.#now = () => clock.now();
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#controlPlaneId = opts.controlPlaneId ?? 'presencelb';
    this.#removalDrainMs = opts.removalDrainMs ?? REMOVAL_DRAIN_MS;
    this.#registry = new EnvoyRegistry({ now: this.#now, historySize: opts.historySize ?? 256 });
  }

  /** start listens on listen ('host:port', port 0 for any; plaintext unless credentials say TLS) and resolves with the bound port. */
  async start(listen: string, credentials: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
    if (this.#server) throw new Error('AdsServer already started');
    // Envoy's requests are small; a delta reconnect lists every resource it holds (~50 bytes each), so 4 MiB
    // bounds what one message may carry with room for 10,000s of resources.
    const server = new Server({ 'grpc.keepalive_time_ms': 30000, 'grpc.keepalive_permit_without_calls': 1, 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    const streamOpts = { now: this.#now, controlPlaneId: this.#controlPlaneId, removalDrainMs: this.#removalDrainMs };
    server.addService(serviceDefinition(ADS_SERVICE), {
      StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) =>
        this.#attach(call, new AdsStream(this.#nextStreamId++, streamOpts), sotwSummary),
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) =>
        this.#attach(call, new DeltaStream(this.#nextStreamId++, streamOpts), deltaSummary),
    });
    server.addService(serviceDefinition(CSDS_SERVICE), csdsHandlers(this));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.#server = server;
    this.#log.info({ listen, port }, 'xDS server listening');
    return port;
  }

  /**
   * publish makes snapshot the current one and pushes what changed to every stream, in make-before-break order
   * (clusters and endpoints, then listeners and routes; over state of the world, routes to an added cluster wait
   * for Envoy's ACK of its endpoints; clusters Envoy holds that the snapshot lacks are removed last, once
   * Envoy has ACKed the routes and removalDrainMs has passed since). Publishing the current
   * version again does nothing. It returns once every response has been handed to grpc-js (not waiting for ACKs;
   * see waitForAck).
   */
  publish(snapshot: Snapshot): void {
    if (this.#snapshot?.version === snapshot.version) return;
    this.#snapshot = snapshot;
    this.#registry.published(snapshot);
    this.#log.info({ version: snapshot.version, types: snapshot.typeVersions() }, 'snapshot published');
    for (const stream of this.#streams.values()) stream.push(snapshot);
    this.#registry.settle();
  }

  /** current returns the published snapshot, or null before the first publish. */
  current(): Snapshot | null {
    return this.#snapshot;
  }

  /** envoys reports every Envoy seen since start: connection, protocol, per-type and per-resource sent/acked versions and NACKs. */
  envoys(): EnvoyStatus[] {
    return this.#registry.envoys();
  }

  /**
   * waitForAck resolves when the Envoy named nodeId (default: every connected Envoy, at least one) has acknowledged
   * version, or a later snapshot, in every type it asked for; with 'nacked' as soon as one refuses it; with
   * 'timeout' after timeoutMs. It never rejects.
   */
  waitForAck(version: string, opts: WaitForAckOptions): Promise<AckOutcome> {
    return this.#registry.waitForAck(version, opts);
  }

  /** stop ends every stream (Envoy keeps its configuration and reconnects later) and shuts the server down. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const stream of this.#streams.values()) stream.end();
    this.#registry.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.#log.info({}, 'xDS server stopped');
  }

  /** #attach drives one stream of either protocol: requests in, responses out, registry and hooks told of each. */
  #attach<Req, Res>(call: ServerDuplexStream<Req, Res>, stream: ProtocolStream<Req, Res>, summary: (r: Res) => Summary): void {
    const log = this.#log.child({ stream: stream.id, protocol: stream.protocol, peer: call.getPeer() });
    const rejected: RejectedByNode = (kind, version, name) => this.#registry.isRejected(stream.node, kind, version, name);
    const write = (responses: readonly { kind: XdsKind; message: Res }[]) => {
      for (const { kind, message } of responses) {
        try {
          call.write(message);
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'write to ADS stream failed');
          return;
        }
        const s = summary(message);
        log.debug({ kind, ...s }, 'sent');
        this.#onEvent({ type: 'send', node: stream.node, protocol: stream.protocol, kind, version: s.version, resources: s.resources, removed: s.removed, bytes: s.bytes });
      }
    };
    // Removals held for the drain go out when due, unless a request or a publish has flushed the stream before.
    let drain: NodeJS.Timeout | null = null;
    let closed = false;
    const schedule = () => {
      if (drain) clearTimeout(drain);
      drain = null;
      const due = stream.dueAt();
      if (due === null || closed) return;
      drain = setTimeout(() => {
        drain = null;
        if (this.#snapshot) write(stream.onSnapshot(this.#snapshot, rejected));
        schedule();
        this.#registry.settle(stream.node);
      }, Math.max(1, due - this.#now()));
    };
    this.#streams.set(stream, {
      push: (snapshot) => {
        write(stream.onSnapshot(snapshot, rejected));
        schedule();
      },
      end: () => call.end(),
    });
    const close = (why: string) => {
      if (closed) return;
      closed = true;
      if (drain) clearTimeout(drain);
      this.#streams.delete(stream);
      this.#registry.unbind(stream);
      log.info({ node: stream.node, why }, 'ADS stream closed');
      this.#onEvent({ type: 'disconnect', node: stream.node, streamId: stream.id, protocol: stream.protocol });
    };
    call.on('data', (req: Req) => {
      const hadNode = stream.node !== null;
      const { outcome, responses } = stream.onRequest(req, this.#snapshot, rejected);
      this.#registry.bind(stream);
      if (!hadNode && stream.node) {
        log.info({ node: stream.node }, 'Envoy connected');
        this.#onEvent({ type: 'connect', node: stream.node, streamId: stream.id, protocol: stream.protocol });
      }
      this.#report(stream, outcome, log);
      write(responses);
      schedule();
      this.#registry.settle(stream.node);
    });
    call.on('end', () => {
      close('client ended');
      call.end();
    });
    call.on('cancelled', () => close('cancelled'));
    call.on('error', (e: Error) => close(`error: ${e.message}`));
    call.on('close', () => close('closed'));
  }

  #report(stream: XdsStreamView, outcome: RequestOutcome, log: Logger): void {
    switch (outcome.type) {
      case 'unknown_type':
        log.warn({ typeUrl: outcome.typeUrl }, 'request for a resource type presencelb does not serve; ignored');
        break;
      case 'stale':
        log.debug({ kind: outcome.kind, nonce: outcome.nonce }, 'stale nonce: no ACK or NACK taken from it');
        break;
      case 'subscribe':
        log.debug({ kind: outcome.kind, held: this.#snapshot === null }, 'subscription');
        break;
      case 'ack':
        log.debug({ kind: outcome.kind, version: outcome.version }, 'ACK');
        this.#onEvent({ type: 'ack', node: stream.node, kind: outcome.kind, version: outcome.version });
        break;
      case 'nack':
        if (stream.node) this.#registry.recordNack(stream.node, outcome.kind, outcome.nack);
        log.warn({ code: 'XDS_NACK', node: stream.node, kind: outcome.kind, version: outcome.nack.version, detail: outcome.nack.message }, 'Envoy rejected an xDS update');
        this.#onEvent({ type: 'nack', node: stream.node, kind: outcome.kind, nack: outcome.nack });
        break;
    }
  }
}
