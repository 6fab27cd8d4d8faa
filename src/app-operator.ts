/**
 * Wiring of the operator's surface: the Prometheus metrics (fed through hooks on the store, the presence client,
 * the ADS server and the lifecycle; the core knows nothing of them), the HTTP /metrics endpoint and the gRPC admin
 * API. app.ts creates the metrics first (the hooks are needed as the adapters are built) and starts the servers last.
 */
import type { Config } from './config/schema.ts';
import type { Lifecycle } from './core/lifecycle.ts';
import { PlbError, isPlbError } from './core/errors.ts';
import type { Clock, Logger } from './core/ports.ts';
import { formatErrors } from './core/result.ts';
import type { DataplaneThread } from './dataplane/dataplane-thread.ts';
import type { AdminBackend } from './admin/admin-backend.ts';
import { AdminServer } from './admin/admin-server.ts';
import { readAdminSecrets, type AdminSecrets } from './admin/secrets.ts';
import type { Settled } from './metrics/instrument.ts';
import { MetricsServer } from './metrics/metrics-server.ts';
import { PlbMetrics } from './metrics/metrics.ts';
import { sipStatusOf } from './presence/sip-outcome.ts';
import type { SipPresenceClient } from './presence/sip-presence-client.ts';
import type { StoreReads } from './store/index.ts';
import type { AdsServer } from './xds/ads-server.ts';

/** OperatorSetup is what startApp needs before it builds the adapters: the secrets (read first: fail fast) and the hooks. */
export interface OperatorSetup {
  readonly metrics: PlbMetrics;
  readonly secrets: AdminSecrets;
  /** storeTimings reports each store operation's duration (pass to instrument()). */
  readonly storeTimings: Settled;
  /** presenceFailures counts each failed presence operation by error code and SIP status (pass to instrument()). */
  readonly presenceFailures: Settled;
}

/** prepareOperator reads the admin secrets and creates the metrics; it throws PlbError(CONFIG_INVALID) naming the field. */
export function prepareOperator(config: Config): OperatorSetup {
  const secrets = readAdminSecrets(config.admin);
  if (!secrets.ok) throw new PlbError('CONFIG_INVALID', `invalid admin configuration:\n${formatErrors(secrets.errors)}`);
  const metrics = new PlbMetrics();
  return {
    metrics,
    secrets: secrets.value,
    storeTimings: (op, seconds, error) => metrics.onStoreOperation(op, seconds, error === null),
    presenceFailures: (method, _seconds, error) => {
      if (error !== null) metrics.onPresenceError(method, isPlbError(error) ? error.code : 'UNKNOWN', sipStatusOf(error)?.statusCode ?? null);
    },
  };
}

/** OperatorParts are the running parts the admin API and the gauges read. */
export interface OperatorParts {
  readonly lifecycle: Lifecycle;
  readonly reads: StoreReads;
  readonly presence: Pick<SipPresenceClient, 'held'>;
  readonly xds: AdsServer;
  readonly dataplane: Pick<DataplaneThread, 'openFlows'>;
}

/** OperatorSurface is the running admin API and metrics endpoint. */
export interface OperatorSurface {
  readonly ports: { readonly admin: number; readonly metrics: number };
  stop(): Promise<void>;
}

/** startOperator points the gauges at the running parts, then starts the metrics endpoint and the admin API. */
export async function startOperator(setup: OperatorSetup, parts: OperatorParts, config: Config, clock: Clock, log: Logger): Promise<OperatorSurface> {
  const { metrics, secrets } = setup;
  metrics.setSources({
    activeFlows: () => parts.dataplane.openFlows,
    trackedUsers: () => parts.lifecycle.userCount,
    connectedEnvoys: () => parts.xds.envoys().filter((e) => e.connected).length,
  });
  const backend: AdminBackend = {
    store: parts.reads,
    lifecycle: parts.lifecycle,
    held: (u) => parts.presence.held(u),
    envoys: () => parts.xds.envoys(),
    stats: () => metrics.values(),
  };
  const metricsServer = new MetricsServer(metrics, log.child({ component: 'metrics' }));
  const admin = new AdminServer({ backend, ...secrets, maxMessageBytes: config.admin.maxMessageBytes, clock, log: log.child({ component: 'admin' }) });
  const metricsPort = await metricsServer.start(config.metrics.listen);
  let adminPort: number;
  try {
    adminPort = await admin.start(config.admin.listen);
  } catch (e) {
    await metricsServer.stop();
    throw e;
  }
  return {
    ports: { admin: adminPort, metrics: metricsPort },
    async stop() {
      await admin.stop();
      await metricsServer.stop();
    },
  };
}
