/**
 * AdsServer is presencelb's Envoy management server: Aggregated Discovery Service, state of the world, over
 * grpc-js (envoy.service.discovery.v3.AggregatedDiscoveryService.StreamAggregatedResources). It serves CDS, EDS,
 * RDS and LDS from the current Snapshot; the per-stream protocol lives in AdsStream, the per-Envoy view in
 * EnvoyRegistry. Until the first snapshot is published, requests are held, so a restarted presencelb never sends
 * Envoy an empty configuration. The server imports the snapshot (the cache), never the reverse.
 *
 * Seams for later issues: DeltaAggregatedResources answers UNIMPLEMENTED; a CSDS service can be built on envoys()
 * and current().
 */
import { Server, ServerCredentials, status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import { serviceDefinition } from '../protos/envoy.ts';
import type { Logger } from '../core/ports.ts';
import type { Snapshot } from './snapshot.ts';
import { AdsStream, type Outgoing, type RejectedByNode } from './ads-stream.ts';
import { EnvoyRegistry } from './envoy-registry.ts';
import type { AckOutcome, AdsEvent, AdsServerOptions, DiscoveryRequest, DiscoveryResponse, EnvoyStatus, WaitForAckOptions } from './ads-types.ts';

type AdsCall = ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** ADS_SERVICE is the full name of the gRPC service AdsServer implements. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** AdsServer serves snapshots to Envoys over ADS. One instance per listening address; start, publish, stop. */
export class AdsServer {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onEvent: (e: AdsEvent) => void;
  readonly #controlPlaneId: string;
  readonly #registry: EnvoyRegistry;
  readonly #calls = new Map<AdsStream, AdsCall>();
  #server: Server | null = null;
  #snapshot: Snapshot | null = null;
  #nextStreamId = 1;

  constructor(opts: AdsServerOptions) {
    this.#log = opts.logger.child({ component: 'xds' });
    const clock = opts.clock ?? { now: () => Date.now() };
    this.#now = () => clock.now();
    this.#onEvent = opts.onEvent ?? (() => {});
    this.#controlPlaneId = opts.controlPlaneId ?? 'presencelb';
    this.#registry = new EnvoyRegistry({ now: this.#now, historySize: opts.historySize ?? 256 });
  }

  /** start listens on listen ('host:port', port 0 for any) and resolves with the bound port. */
  async start(listen: string): Promise<number> {
    if (this.#server) throw new Error('AdsServer already started');
    const server = new Server({ 'grpc.keepalive_time_ms': 30000, 'grpc.keepalive_permit_without_calls': 1 });
    server.addService(serviceDefinition(ADS_SERVICE), {
      StreamAggregatedResources: (call: AdsCall) => this.#open(call),
      DeltaAggregatedResources: (call: AdsCall) =>
        call.emit('error', { code: GrpcStatus.UNIMPLEMENTED, details: 'presencelb serves state-of-the-world ADS only' }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(listen, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.#server = server;
    this.#log.info({ listen, port }, 'xDS server listening');
    return port;
  }

  /**
   * publish makes snapshot the current one and pushes what changed to every stream, clusters first and routes
   * last. Publishing the current version again does nothing. It returns once every response has been handed to
   * grpc-js (not waiting for ACKs; see waitForAck).
   */
  publish(snapshot: Snapshot): void {
    if (this.#snapshot?.version === snapshot.version) return;
    this.#snapshot = snapshot;
    this.#registry.published(snapshot);
    this.#log.info({ version: snapshot.version, types: snapshot.typeVersions() }, 'snapshot published');
    for (const [stream, call] of this.#calls) {
      this.#write(stream, call, stream.onSnapshot(snapshot, this.#rejected(stream)));
    }
    this.#registry.settle();
  }

  /** current returns the published snapshot, or null before the first publish. */
  current(): Snapshot | null {
    return this.#snapshot;
  }

  /** envoys reports every Envoy seen since start: connection, per-type sent/acked versions and last NACK. */
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

  /** stop ends every stream (Envoy will reconnect elsewhere or later) and shuts the server down. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const call of this.#calls.values()) call.end();
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

  #open(call: AdsCall): void {
    const stream = new AdsStream(this.#nextStreamId++, { now: this.#now, controlPlaneId: this.#controlPlaneId });
    const log = this.#log.child({ stream: stream.id, peer: call.getPeer() });
    this.#calls.set(stream, call);
    let closed = false;
    const close = (why: string) => {
      if (closed) return;
      closed = true;
      this.#calls.delete(stream);
      this.#registry.unbind(stream);
      log.info({ node: stream.node, why }, 'ADS stream closed');
      this.#onEvent({ type: 'disconnect', node: stream.node, streamId: stream.id });
    };
    call.on('data', (req: DiscoveryRequest) => this.#onRequest(stream, call, req, log));
    call.on('end', () => {
      close('client ended');
      call.end();
    });
    call.on('cancelled', () => close('cancelled'));
    call.on('error', (e: Error) => close(`error: ${e.message}`));
    call.on('close', () => close('closed'));
  }

  #onRequest(stream: AdsStream, call: AdsCall, req: DiscoveryRequest, log: Logger): void {
    const hadNode = stream.node !== null;
    const { outcome, responses } = stream.onRequest(req, this.#snapshot, this.#rejected(stream));
    this.#registry.bind(stream);
    if (!hadNode && stream.node) {
      log.info({ node: stream.node }, 'Envoy connected');
      this.#onEvent({ type: 'connect', node: stream.node, streamId: stream.id });
    }
    switch (outcome.type) {
      case 'unknown_type':
        log.warn({ typeUrl: outcome.typeUrl }, 'request for a resource type presencelb does not serve; ignored');
        break;
      case 'stale':
        log.debug({ kind: outcome.kind, nonce: outcome.nonce }, 'stale nonce; request ignored');
        break;
      case 'subscribe':
        log.debug({ kind: outcome.kind, names: req.resource_names ?? [], held: this.#snapshot === null }, 'subscription');
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
    this.#write(stream, call, responses);
    this.#registry.settle();
  }

  #write(stream: AdsStream, call: AdsCall, responses: readonly Outgoing[]): void {
    for (const { kind, message: r } of responses) {
      try {
        call.write(r);
      } catch (e) {
        this.#log.warn({ stream: stream.id, err: (e as Error).message }, 'write to ADS stream failed');
        return;
      }
      this.#log.debug({ stream: stream.id, kind, version: r.version_info, nonce: r.nonce, resources: r.resources.length }, 'sent');
      this.#onEvent({ type: 'send', node: stream.node, kind, version: r.version_info, resources: r.resources.length });
    }
  }

  #rejected(stream: AdsStream): RejectedByNode {
    return (kind, version) => this.#registry.isRejected(stream.node, kind, version);
  }
}
