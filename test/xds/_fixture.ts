/**
 * Shared set-up for the xDS integration tests: application servers, an AdsServer, the snapshot input, and a real
 * Envoy fed by it. PLB_TEST_LOG=debug shows presencelb's xDS log on stderr.
 */
import { pino } from 'pino';
import type { Logger, PinRecord } from '../../src/core/ports.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { Snapshot } from '../../src/xds/snapshot.ts';
import type { RouteConfigurationResource } from '../../src/xds/resource-types/route.ts';
import type { AdsEvent } from '../../src/xds/ads-types.ts';
import type { SnapshotInput } from '../../src/xds/snapshot-input.ts';
import { startAppServers, type AppServerHandle } from '../harness/app-server.ts';
import { startEnvoy, type EnvoyHandle } from '../harness/envoy.ts';
import { freePort } from '../harness/ports.ts';
import { Teardown } from '../harness/teardown.ts';

/** testLogger is silent unless PLB_TEST_LOG names a level. */
export const testLogger = (): Logger => pino({ level: process.env.PLB_TEST_LOG ?? 'silent' }, pino.destination(2)) as unknown as Logger;

export const USER_A = '6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f' as UserId;
export const USER_B = 'a0b1c2d3-e4f5-4a6b-9c7d-8e9f0a1b2c3d' as UserId;

/** baseInput is the snapshot input for these app servers, without pins. */
export function baseInput(apps: readonly { name: string; host: string; port: number }[]): Omit<SnapshotInput, 'pins'> {
  return {
    appServers: apps.map(({ name, host, port }) => ({ name, host, port })),
    routeConfigName: 'presencelb-routes',
    virtualHostDomains: ['*'],
    identityHeader: 'x-user-id',
  };
}

/** pinOf makes a pin record valid for a minute. */
export const pinOf = (user: UserId, appServer: string): PinRecord => ({ user, appServer, createdAt: Date.now(), expiresAt: Date.now() + 60000 });

/** Rig is a running set: app servers, the ADS server, and optionally Envoy. */
export interface Rig {
  apps: AppServerHandle[];
  ads: AdsServer;
  xdsPort: number;
  events: AdsEvent[];
  envoy?: EnvoyHandle;
  close(): Promise<void>;
}

/** RigOptions: whether to start Envoy (default yes), its node id, bootstrap (the harness's default) and JWKS. */
export interface RigOptions {
  readonly envoy?: boolean;
  readonly nodeId?: string;
  readonly bootstrap?: string;
  readonly jwks?: string;
}

/**
 * startRig starts two app servers (app-a, app-b) and an ADS server; it starts Envoy too unless envoy is false. If a
 * part fails to start, the parts started before it are stopped.
 */
export function startRig(opts: RigOptions = {}): Promise<Rig> {
  return Teardown.guard((td) => buildRig(opts, td));
}

async function buildRig(opts: RigOptions, td: Teardown): Promise<Rig> {
  const apps = td.add(await startAppServers(['app-a', 'app-b']), (as) => Promise.all(as.map((a) => a.close())));
  const events: AdsEvent[] = [];
  const ads = new AdsServer({ logger: testLogger(), onEvent: (e) => events.push(e) });
  const xdsPort = await ads.start('127.0.0.1:0');
  td.add(ads, (a) => a.stop());
  const rig: Rig = {
    apps,
    ads,
    xdsPort,
    events,
    async close() {
      await rig.envoy?.stop();
      await ads.stop();
      await Promise.all(apps.map((a) => a.close()));
    },
  };
  if (opts.envoy !== false) {
    rig.envoy = await startEnvoy({ xdsPort, ...(opts.nodeId ? { nodeId: opts.nodeId } : {}), ...(opts.bootstrap ? { bootstrap: opts.bootstrap } : {}), ...(opts.jwks ? { jwks: opts.jwks } : {}) });
  }
  return rig;
}

/** request sends one GET through Envoy's listener as user (or anonymously) and returns the answering server. */
export async function request(listenerUrl: string, user?: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; server: string | null }> {
  const r = await fetch(`${listenerUrl}${path}`, { headers: { ...(user ? { 'x-user-id': user } : {}), ...headers }, signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  let server: string | null = null;
  try {
    server = (JSON.parse(text) as { server?: string }).server ?? null;
  } catch {
    /* not an app server's answer */
  }
  return { status: r.status, server };
}

/** countServers sends n requests as user (with extra headers, e.g. a JWT) and counts answers per server. */
export async function countServers(listenerUrl: string, n: number, user?: string, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { status, server } = await request(listenerUrl, user, '/', headers);
    const k = status === 200 ? server ?? '?' : `status ${status}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** dynamicRouteConfig returns the RouteConfiguration in Envoy's config dump, or undefined. */
export async function dynamicRouteConfig(envoy: EnvoyHandle): Promise<any> {
  const dump = await envoy.configDump('resource=dynamic_route_configs');
  return dump.configs?.[0]?.route_config;
}

/** dynamicClusterNames lists the dynamic active clusters in Envoy's config dump. */
export async function dynamicClusterNames(envoy: EnvoyHandle): Promise<string[]> {
  const dump = await envoy.configDump('resource=dynamic_active_clusters');
  return (dump.configs ?? []).map((c: any) => c.cluster.name).sort();
}

export { freePort };

/** sendsSince lists the responses sent after the first `from` events as `KIND +resources -removed`. */
export function sendsSince(events: readonly AdsEvent[], from: number): string[] {
  return events.slice(from).flatMap((e) => (e.type === 'send' ? [`${e.kind} +${e.resources} -${e.removed}`] : []));
}

/** dynamicRouteEntry returns Envoy's config-dump entry of the dynamic route configuration: version_info, route_config. */
export async function dynamicRouteEntry(envoy: EnvoyHandle): Promise<{ version_info: string; route_config: any } | undefined> {
  const dump = await envoy.configDump('resource=dynamic_route_configs');
  return dump.configs?.[0];
}

/** withBadRegex derives a snapshot whose first route matches the identity header against an invalid RE2 regex. */
export function withBadRegex(good: Snapshot): Snapshot {
  const rc = structuredClone(good.resources('RDS')[0]) as RouteConfigurationResource & { virtual_hosts: { routes: any[] }[] };
  rc.virtual_hosts[0]!.routes.unshift({
    name: 'bad',
    match: { prefix: '/', headers: [{ name: 'x-user-id', string_match: { safe_regex: { regex: '(unclosed' } } }] },
    route: { cluster: 'app-b' },
  });
  const r = Snapshot.fromResources({ CDS: good.resources('CDS'), EDS: good.resources('EDS'), RDS: [rc] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

/** snapshotOf builds the snapshot for these application servers and no pins; it throws on a bad input. */
export function snapshotOf(apps: readonly { name: string; host: string; port: number }[]): Snapshot {
  const r = Snapshot.build({ ...baseInput(apps), pins: [] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

/**
 * trafficLoad keeps `workers` requests in flight through Envoy's listener until stopped, counting answers by server
 * (or `status N`, `error`) in tally and recording each failure, prefixed by phase.current at the time, in failures.
 */
export function trafficLoad(listenerUrl: string, workers: number, tally: Record<string, number>, failures: string[], phase: { current: string }) {
  let running = true;
  const worker = async () => {
    while (running) {
      let key: string;
      try {
        const r = await fetch(`${listenerUrl}/`, { signal: AbortSignal.timeout(5000) });
        const body = await r.text();
        if (r.status === 200) key = (JSON.parse(body) as { server: string }).server;
        else {
          key = `status ${r.status}`;
          failures.push(`${phase.current}: ${r.status} ${body.slice(0, 60)}`);
        }
      } catch (e) {
        key = 'error';
        failures.push(`${phase.current}: ${String(e)}`);
      }
      tally[key] = (tally[key] ?? 0) + 1;
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}
