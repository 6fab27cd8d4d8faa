/**
 * The whole system on 127.0.0.1 for one test file: real Kamailio, two application servers, presencelb (the
 * `presencelb serve` command in a child process, SQLite store) and real Envoy. Users are identified by the
 * x-user-id header (identity.source header, envoy/envoy-trusted-header.yaml), the test acting as the trusted
 * gateway on 127.0.0.1; test/dataplane/ runs the shipped JWT bootstrap (envoy/envoy.yaml) end to end.
 */
import knex, { type Knex } from 'knex';
import { startAppServers, type AppServerHandle } from '../harness/app-server.ts';
import { startEnvoy, TRUSTED_HEADER_BOOTSTRAP, type EnvoyHandle } from '../harness/envoy.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { freePorts } from '../harness/ports.ts';
import { Teardown } from '../harness/teardown.ts';
import { startPresencelb, type Presencelb } from '../harness/presencelb.ts';
import { startSipDevice, type SipDevice } from '../harness/sip-device.ts';

export const DOMAIN = 'presencelb.test';

/** Stack is a running system. */
export interface Stack {
  readonly kamailio: Kamailio | null;
  readonly apps: AppServerHandle[];
  readonly plb: Presencelb;
  readonly envoy: EnvoyHandle;
  readonly db: Knex;
  /** adminAddr is the admin API's host:port; metricsUrl the /metrics endpoint's URL. */
  readonly adminAddr: string;
  readonly metricsUrl: string;
  /** get sends a request through Envoy; headers default to the identity header for user (if given). */
  get(path: string, user?: string, headers?: Record<string, string>): Promise<{ status: number; body: any; text: string }>;
  /** restartPresencelb stops presencelb with signal (SIGKILL: a crash) and starts it again on the same config and database; plb is then the new process. */
  restartPresencelb(signal?: NodeJS.Signals): Promise<Presencelb>;
  /** device starts a SIP UA registered as the user's own device. */
  device(user: string): Promise<SipDevice>;
  /** rowsAbout counts, per table, the rows that mention user. */
  rowsAbout(user: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface StackOptions {
  readonly graceMs?: number;
  readonly reconnectWindowMs?: number;
  /** presenceDown: presencelb is pointed at a port where no presence server listens (that port is returned). */
  readonly presenceDown?: boolean;
  /** admin is presencelb's `admin` config section (listen defaults to a free port). */
  readonly admin?: Record<string, unknown>;
  /** pins is presencelb's xds.pins (default: the config default, header). */
  readonly pins?: 'header' | 'routes';
  /** envoyBootstrap is the bootstrap Envoy runs (default envoy/envoy-trusted-header.yaml; it must take the identity header). */
  readonly envoyBootstrap?: string;
}

/** startStack starts every part and waits until Envoy has its configuration from presencelb; if a part fails, it stops the others. */
export function startStack(o: StackOptions = {}): Promise<Stack & { presencePort: number }> {
  return Teardown.guard((td) => buildStack(o, td));
}

async function buildStack(o: StackOptions, td: Teardown): Promise<Stack & { presencePort: number }> {
  const [xdsPort, extProcPort, downPort] = await freePorts(3);
  const kamailio = o.presenceDown ? null : td.add(await startKamailio(), (k) => k.stop());
  const apps = td.add(await startAppServers(['app-a', 'app-b']), (as) => Promise.all(as.map((a) => a.close())));
  const wsUrl = kamailio ? kamailio.wsUrl : `ws://127.0.0.1:${downPort}`;
  let plb = td.add(await startPresencelb({
    identity: { source: 'header', header: 'x-user-id' },
    xds: { listen: `127.0.0.1:${xdsPort}`, ...(o.pins ? { pins: o.pins } : {}) },
    extProc: { listen: `127.0.0.1:${extProcPort}` },
    presence: { wsUrl, domain: DOMAIN, stepTimeoutMs: 2000 },
    lifecycle: { graceMs: o.graceMs ?? 1000, reconnectWindowMs: o.reconnectWindowMs ?? 60000 },
    applicationServers: apps.map((a) => ({ name: a.name, host: a.host, port: a.port })),
    admin: { listen: '127.0.0.1:0', ...o.admin },
  }), (p) => p.stop());
  const envoy = td.add(await startEnvoy({ xdsPort: xdsPort!, extProcPort: extProcPort!, bootstrap: o.envoyBootstrap ?? TRUSTED_HEADER_BOOTSTRAP }), (e) => e.stop());
  await envoy.waitReady(20000);
  const db = knex({ client: 'sqlite3', connection: { filename: plb.dbFile }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
  const devices: SipDevice[] = [];
  return {
    kamailio,
    apps,
    get plb() {
      return plb;
    },
    envoy,
    db,
    get adminAddr() {
      return `127.0.0.1:${plb.adminPort}`;
    },
    get metricsUrl() {
      return `http://127.0.0.1:${plb.metricsPort}/metrics`;
    },
    presencePort: kamailio ? kamailio.port : downPort!,
    async get(path, user, headers = {}) {
      const h: Record<string, string> = { ...(user ? { 'x-user-id': user } : {}), ...headers };
      const r = await fetch(`${envoy.listenerUrl}${path}`, { headers: h, signal: AbortSignal.timeout(15000) });
      const text = await r.text();
      let body: any = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: r.status, body, text };
    },
    async restartPresencelb(signal) {
      plb = await plb.restart(signal);
      return plb;
    },
    async device(user) {
      if (!kamailio) throw new Error('no presence server in this stack');
      const d = await startSipDevice({ wsUrl: kamailio.wsUrl, domain: DOMAIN, user });
      devices.push(d);
      return d;
    },
    async rowsAbout(user) {
      const out: Record<string, number> = {};
      const tables = (await db.raw(`select name from sqlite_master where type='table' and name not like 'knex_%' and name not like 'sqlite_%'`)) as Array<{ name: string }>;
      for (const { name } of tables) {
        const cols = (await db.raw(`pragma table_info(${name})`)) as Array<{ name: string }>;
        if (!cols.some((c) => c.name === 'user_id')) continue;
        const [row] = await db(name).where('user_id', user).count({ n: '*' });
        out[name] = Number(row!.n);
      }
      return out;
    },
    async stop() {
      for (const d of devices) await d.stop().catch(() => undefined);
      await envoy.stop();
      await plb.stop();
      await db.destroy();
      await Promise.all(apps.map((a) => a.close()));
      await kamailio?.stop();
    },
  };
}
