/**
 * PlbMetrics is presencelb's Prometheus instrumentation (prom-client), fed only through hooks the app wires in:
 * a lifecycle observer (ClaimMetrics), the ADS server's onEvent, failures of presence (SIP) operations and timings
 * of store operations (instrument.ts). Gauges read their value when scraped, from the sources given to setSources.
 * One registry per instance (no global state), so tests and several apps in one process do not mix.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LifecycleEvent } from '../core/lifecycle-events.ts';
import type { AdsEvent } from '../xds/ads-types.ts';
import { ClaimMetrics } from './claim-metrics.ts';

/** GaugeSources are read at scrape time. */
export interface GaugeSources {
  readonly activeFlows: () => number;
  readonly trackedUsers: () => number;
  readonly connectedEnvoys: () => number;
}

/** PREFIX starts every presencelb series name. */
export const PREFIX = 'presencelb_';

/** PlbMetrics owns one registry and every presencelb metric in it. */
export class PlbMetrics {
  readonly registry = new Registry();
  private sources: GaugeSources = { activeFlows: () => 0, trackedUsers: () => 0, connectedEnvoys: () => 0 };
  private readonly steps: Counter<'step' | 'result'>;
  private readonly decisions: Counter<'branch' | 'outcome'>;
  private readonly notifyLatency: Histogram;
  private readonly xds: Record<'send' | 'ack' | 'nack', Counter<'type'>>;
  private readonly sipErrors: Counter<'method' | 'code' | 'status'>;
  private readonly storeSeconds: Histogram<'operation' | 'result'>;
  private readonly convergeSeconds: Histogram<'type'>;
  private readonly inFlight = new Map<string, { version: string; at: number }>();
  private readonly claim: ClaimMetrics;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Gauge({ name: `${PREFIX}active_flows`, help: 'Flows (HTTP streams through Envoy) started and not yet ended', registers, collect() { this.set(self.sources.activeFlows()); } });
    new Gauge({ name: `${PREFIX}tracked_users`, help: 'Users with a live session in the lifecycle', registers, collect() { this.set(self.sources.trackedUsers()); } });
    new Gauge({ name: `${PREFIX}xds_connected_envoys`, help: 'Envoys with an ADS stream open', registers, collect() { this.set(self.sources.connectedEnvoys()); } });
    this.steps = new Counter({ name: `${PREFIX}claim_steps_total`, help: 'Claim steps taken, by step and result (ok or failed)', labelNames: ['step', 'result'], registers });
    this.decisions = new Counter({ name: `${PREFIX}decisions_total`, help: 'Decisions whose branch ended, by branch (reconnect, teardown) and outcome (completed, failed, abandoned)', labelNames: ['branch', 'outcome'], registers });
    this.notifyLatency = new Histogram({
      name: `${PREFIX}notify_to_decision_seconds`,
      help: 'Time from receiving a NOTIFY to the decision it led to',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.xds = {
      send: new Counter({ name: `${PREFIX}xds_pushes_total`, help: 'xDS responses sent to Envoys, by resource type', labelNames: ['type'], registers }),
      ack: new Counter({ name: `${PREFIX}xds_acks_total`, help: 'xDS ACKs received from Envoys, by resource type', labelNames: ['type'], registers }),
      nack: new Counter({ name: `${PREFIX}xds_nacks_total`, help: 'xDS NACKs received from Envoys, by resource type', labelNames: ['type'], registers }),
    };
    this.sipErrors = new Counter({
      name: `${PREFIX}sip_transaction_errors_total`,
      help: 'Presence-server operations that failed, by operation, error code and SIP status (none when there was no response)',
      labelNames: ['method', 'code', 'status'],
      registers,
    });
    this.convergeSeconds = new Histogram({
      name: `${PREFIX}xds_converge_seconds`,
      help: 'Time from sending an xDS update to an Envoy until that Envoy ACKed it, by resource type',
      labelNames: ['type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.storeSeconds = new Histogram({
      name: `${PREFIX}store_operation_seconds`,
      help: 'Store operations, by operation and result (ok or failed)',
      labelNames: ['operation', 'result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.claim = new ClaimMetrics({
      step: (step, ok) => this.steps.inc({ step, result: ok ? 'ok' : 'failed' }),
      decision: (branch, outcome) => this.decisions.inc({ branch, outcome }),
      notifyToDecision: (s) => this.notifyLatency.observe(s),
    });
  }

  /** setSources tells the gauges where to read their values (the parts exist only once the app has started). */
  setSources(s: GaugeSources): void {
    this.sources = s;
  }

  /** onLifecycleEvent is a lifecycle observer. */
  readonly onLifecycleEvent = (e: LifecycleEvent): void => this.claim.observe(e);

  /** onAdsEvent is the ADS server's onEvent hook. */
  readonly onAdsEvent = (e: AdsEvent): void => {
    if (e.type === 'send' || e.type === 'ack' || e.type === 'nack') this.xds[e.type].inc({ type: e.kind });
    // Convergence: from sending a version of a type to a node until that node ACKs that version. Keyed by node and
    // type, so the map is bounded by the number of Envoys times four.
    if ((e.type === 'send' || e.type === 'ack') && e.node) {
      const key = `${e.node.cluster}\n${e.node.id}\n${e.kind}`;
      if (e.type === 'send') this.inFlight.set(key, { version: e.version, at: performance.now() });
      else {
        const sent = this.inFlight.get(key);
        if (sent && sent.version === e.version) {
          this.convergeSeconds.observe({ type: e.kind }, (performance.now() - sent.at) / 1000);
          this.inFlight.delete(key);
        }
      }
    } else if (e.type === 'disconnect' && e.node) {
      for (const kind of ['CDS', 'EDS', 'LDS', 'RDS']) this.inFlight.delete(`${e.node.cluster}\n${e.node.id}\n${kind}`);
    }
  };

  /** onPresenceError counts one failed presence operation; sipStatus is the SIP response's code, if one came. */
  readonly onPresenceError = (method: string, code: string, sipStatus: number | null): void => {
    this.sipErrors.inc({ method, code, status: sipStatus === null ? 'none' : String(sipStatus) });
  };

  /** onStoreOperation records one store operation's duration. */
  readonly onStoreOperation = (operation: string, seconds: number, ok: boolean): void => {
    this.storeSeconds.observe({ operation, result: ok ? 'ok' : 'failed' }, seconds);
  };

  /** exposition renders every metric in the Prometheus text format. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * values returns presencelb's own series as name{labels} → value (histograms: their _count), for GetStats.
   * Process and Node.js runtime metrics are left to /metrics.
   */
  async values(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const m of await this.registry.getMetricsAsJSON()) {
      if (!m.name.startsWith(PREFIX)) continue;
      for (const v of m.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>) {
        const name = v.metricName ?? m.name;
        if (String(m.type) === 'histogram' && !name.endsWith('_count')) continue;
        const labels = Object.entries(v.labels).filter(([k]) => k !== 'le');
        out[labels.length ? `${name}{${labels.map(([k, x]) => `${k}="${x}"`).join(',')}}` : name] = v.value;
      }
    }
    return out;
  }
}
