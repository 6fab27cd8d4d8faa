/**
 * Wiring: builds every adapter from the frozen Config and connects them to the lifecycle core through its ports.
 * Start-up order matters for Envoy: the xDS server holds Envoy's requests until the state has been restored from
 * the store and the first snapshot published, so no Envoy ever sees an empty or partial configuration.
 */
import type { Config } from './config/schema.ts';
import { systemClock } from './clock.ts';
import { Lifecycle } from './core/lifecycle.ts';
import type { LifecycleEvent } from './core/lifecycle-events.ts';
import type { Clock, Logger, PresenceNotification, RoutePublisher } from './core/ports.ts';
import type { UserId } from './core/user-id.ts';
import { DataplaneThread } from './dataplane/dataplane-thread.ts';
import { SipPresenceClient } from './presence/sip-presence-client.ts';
import { prepareOperator, startOperator } from './app-operator.ts';
import { PlbError } from './core/errors.ts';
import { formatErrors } from './core/result.ts';
import { readServerTls, type ServerTls } from './tls-credentials.ts';
import { instrument } from './metrics/instrument.ts';
import { freshReads, openStore } from './store/index.ts';
import { WriteBehindStore } from './store/write-behind.ts';
import { startFlowRetention } from './store/flow-retention.ts';
import { AdsServer } from './xds/ads-server.ts';
import { XdsRoutePublisher } from './xds/route-publisher.ts';
import { PinTable } from './dataplane/pin-table.ts';

/** OFF_PATH_SETTLE_MS bounds how long a teardown waits for Envoy to drop the user's off-path route. */
const OFF_PATH_SETTLE_MS = 2000;

/** App is a running presencelb. */
export interface App {
  readonly lifecycle: Lifecycle;
  readonly xds: AdsServer;
  readonly dataplane: DataplaneThread;
  readonly ports: { readonly xds: number; readonly extProc: number; readonly admin: number; readonly metrics: number };
  /**
   * stop closes the admin API and the metrics endpoint, drains ext_proc streams, withdraws what presencelb holds at
   * the presence server, closes the store.
   */
  stop(): Promise<void>;
}

/**
 * startApp starts presencelb; it rejects only when the admin secrets cannot be read (CONFIG_INVALID, before anything
 * starts), the store cannot be opened or a port cannot be bound.
 */
export async function startApp(config: Config, log: Logger, clock: Clock = systemClock): Promise<App> {
  const operator = prepareOperator(config);
  const serverTls = readTls(config);
  // Flow writes are batched off the request path; every other store operation waits for them (write-behind.ts).
  const store = new WriteBehindStore(instrument(await openStore(config.store, log, { gapMs: config.lifecycle.graceMs, spanMs: config.lifecycle.flowSpanMs }), operator.storeTimings), { log: log.child({ component: 'store' }) });
  const xds = new AdsServer({ logger: log, clock, onEvent: operator.metrics.onAdsEvent });
  const xdsPort = await xds.start(config.xds.listen, serverTls.xds.credentials);

  let sink: (n: PresenceNotification) => void = () => {};
  const presence = new SipPresenceClient({
    url: config.presence.url ?? config.presence.wsUrl,
    ...(config.presence.caFile ? { caFile: config.presence.caFile } : {}),
    ...(config.presence.auth ? { auth: config.presence.auth } : {}),
    domain: config.presence.domain,
    registerExpiresSec: config.presence.registerExpiresSec,
    publishExpiresSec: config.presence.publishExpiresSec,
    subscribeExpiresSec: config.presence.subscribeExpiresSec,
    sink: { onNotify: (n) => sink(n), onSubscriptionLost: (u, why) => lifecycle.onSubscriptionLost(u, why) },
    clock,
    log: log.child({ component: 'sip' }),
  });
  let routes: RoutePublisher | null = null;
  // The data path runs in its own thread (dataplane-thread.ts); it follows from here on which users are granted at once.
  const dataplane = new DataplaneThread({
    identity: config.identity,
    appServers: config.applicationServers,
    ...(config.xds.pins === 'header' ? { pinHeader: config.xds.pinHeader } : {}),
    reportLagMs: config.extProc.accessLogLagMs,
    flowLog: config.extProc.flowLog,
    ...(config.extProc.spanHoldMs > 0 && config.lifecycle.flowSpanMs > 0
      ? { spanHold: { gapMs: config.lifecycle.graceMs, spanMs: config.lifecycle.flowSpanMs, holdMs: config.extProc.spanHoldMs } }
      : {}),
    log: log.child({ component: 'ext_proc' }),
  });
  // extProc.offPath: the users granted at once, whose requests the route table takes off ext_proc (route.ts).
  const offPath = config.extProc.offPath.enabled ? new Set<string>() : null;
  let xdsRoutes: XdsRoutePublisher | null = null;
  const onAccess = (user: UserId, atOnce: boolean): void => {
    dataplane.onAccess(user, atOnce);
    if (!offPath || offPath.has(user) === atOnce) return;
    if (atOnce) offPath.add(user);
    else offPath.delete(user);
    xdsRoutes?.offPathChanged();
  };
  const offPathSettled = async (): Promise<void> => {
    const outcome = (await xdsRoutes?.offPathSettled(OFF_PATH_SETTLE_MS)) ?? 'off';
    if (outcome !== 'acked' && outcome !== 'off') log.warn({ code: 'XDS_NOT_APPLIED', outcome }, 'tearing down before Envoy applied the route table without the user: a request meanwhile skips ext_proc');
  };
  const lifecycle = new Lifecycle({
    presence: instrument(presence, operator.presenceFailures),
    store,
    routes: { pin: (p) => routes!.pin(p), unpin: (u) => routes!.unpin(u) },
    clock,
    log: log.child({ component: 'lifecycle' }),
    appServers: config.applicationServers,
    graceMs: config.lifecycle.graceMs,
    reconnectWindowMs: config.lifecycle.reconnectWindowMs,
    stepTimeoutMs: config.presence.stepTimeoutMs,
    // A presence server refreshes each subscription with a NOTIFY within its expiry; a minute of slack on top.
    staleNotifyMs: (config.presence.subscribeExpiresSec + 60) * 1000,
    presenceInterpretation: config.presence.interpretation,
    onAccess,
    flowsSettled: async (o) => {
      await dataplane.settle(o);
      // A teardown (readFlows false) goes on only once Envoy has dropped the user's off-path route: the next request
      // of a user torn down must go through ext_proc, to be held for register and notify again.
      if (!o.readFlows && offPath) await offPathSettled();
    },
  });
  sink = (n) => lifecycle.onNotify(n);
  lifecycle.observe((e) => logEvent(log, e));
  lifecycle.observe(operator.metrics.onLifecycleEvent);

  try {
    await presence.start();
  } catch (e) {
    log.error({ code: (e as { code?: string }).code ?? 'PRESENCE_UNAVAILABLE', err: (e as Error).message }, 'presence server unreachable at start-up: serving traffic, presence steps retried per user');
  }
  const pins = await lifecycle.restore();
  // xds.pins picks the RoutePublisher: the pin table ext_proc reads (header), or per-user routes over xDS (routes).
  const byHeader = config.xds.pins === 'header';
  const table = byHeader ? new PinTable({ servers: config.applicationServers.map((s) => s.name), initialPins: pins }) : null;
  xdsRoutes = new XdsRoutePublisher({
    sink: xds,
    base: {
      appServers: config.applicationServers,
      routeConfigName: config.xds.routeConfigName,
      virtualHostDomains: config.xds.virtualHostDomains,
      identityHeader: config.identity.header,
      ...(byHeader ? { pinHeader: config.xds.pinHeader } : {}),
    },
    initialPins: byHeader ? [] : pins,
    ...(offPath
      ? {
          offPath: {
            users: offPath,
            extProcFilter: config.extProc.offPath.extProcFilter,
            // A trusted gateway's identity header is there when Envoy first picks the route; a JWT's is not.
            identityAtStart: config.identity.source === 'header',
            publishMs: config.extProc.offPath.publishMs,
            onError: (e: Error) => log.error({ code: (e as { code?: string }).code ?? 'INTERNAL', err: e.message }, 'off-path users could not be published: Envoy keeps the route table it has'),
            applied: (version: string, timeoutMs: number) => xds.waitForAck(version, { timeoutMs }),
          },
        }
      : {}),
  });
  routes = table ?? xdsRoutes;
  const first = xdsRoutes.publishCurrent();
  for (const pin of [...first.dropped, ...(table?.dropped ?? [])]) {
    log.warn({ user: pin.user, appServer: pin.appServer }, 'route update names an application server no longer configured: dropped');
    await store.deletePin(pin.user).catch(() => undefined);
  }

  const extProcPort = await dataplane.start({
    listen: config.extProc.listen,
    ...(serverTls.extProc.pem ? { tls: serverTls.extProc.pem } : {}),
    flows: lifecycle,
    ...(table ? { pins: table } : {}),
  });
  const sweeper = setInterval(() => {
    const n = lifecycle.sweep();
    if (n > 0) log.warn({ users: n }, 'sweep: subscriptions silent for too long, decided without a NOTIFY');
  }, 30000);
  sweeper.unref();
  const retention = startFlowRetention({ store, retentionMs: config.lifecycle.flowRetentionMs, now: () => clock.now(), log: log.child({ component: 'store' }) });
  const surface = await startOperator(operator, { lifecycle, reads: freshReads(store), presence, xds, dataplane }, config, clock, log);
  log.info({ xdsPort, extProcPort, adminPort: surface.ports.admin, metricsPort: surface.ports.metrics, snapshot: first.version, pins: config.xds.pins, offPath: offPath !== null, cpuPolicy: config.cpu.policy, store: config.store.client }, 'presencelb ready');

  return {
    lifecycle,
    xds,
    dataplane,
    ports: { xds: xdsPort, extProc: extProcPort, ...surface.ports },
    async stop() {
      // No more off-path publishes: shutting down withdraws every user, and Envoy keeps the table it has.
      xdsRoutes?.stop();
      await surface.stop();
      clearInterval(sweeper);
      await retention.stop();
      await dataplane.stop(2000);
      await lifecycle.idle();
      await lifecycle.shutdown();
      await presence.stop().catch((e) => log.warn({ err: String(e) }, 'presence client stop failed'));
      await xds.stop();
      await store.close();
      log.info({}, 'presencelb stopped');
    },
  };
}

function logEvent(log: Logger, e: LifecycleEvent): void {
  const line = { event: `claim.${e.step}`, user: e.user, ok: e.ok, ...(e.code ? { code: e.code } : {}), ...e.detail };
  if (e.ok) log.info(line, `claim step ${e.step}`);
  else log.warn(line, `claim step ${e.step} failed`);
}

/** readTls reads the xDS and ext_proc servers' TLS files once; it throws PlbError(CONFIG_INVALID) naming the field. */
function readTls(config: Config): { xds: ServerTls; extProc: ServerTls } {
  const xds = readServerTls(config.xds.tls, 'xds.tls');
  const extProc = readServerTls(config.extProc.tls, 'extProc.tls');
  const errors = [...(xds.ok ? [] : xds.errors), ...(extProc.ok ? [] : extProc.errors)];
  if (!xds.ok || !extProc.ok) throw new PlbError('CONFIG_INVALID', formatErrors(errors));
  return { xds: xds.value, extProc: extProc.value };
}
