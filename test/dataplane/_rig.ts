/**
 * A data-path rig for one test file: two demo application servers (scripts/demo-app-server.mjs: delayed answers,
 * server-sent event streams), a real Kamailio (optionally behind a proxy that can hold back its answers),
 * presencelb as a child process with the identity source under test, and a real Envoy running one of the shipped
 * bootstraps, rendered with the rig's ports and, for JWT bootstraps, the JWKS of a key pair generated here.
 *
 * Leak checks read presencelb's 'dataplane counts' debug lines (src/dataplane/dataplane-server.ts).
 */
import knex, { type Knex } from 'knex';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mintToken, newSigningKey, type SigningKey, type TokenOptions } from '../../scripts/demo-token.ts';
import { DEFAULT_BOOTSTRAP, REPO_ROOT, startEnvoy, TRUSTED_HEADER_BOOTSTRAP, type EnvoyHandle } from '../harness/envoy.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { freePorts, waitFor } from '../harness/ports.ts';
import { Teardown } from '../harness/teardown.ts';
import { startPresencelb, type LogLine, type Presencelb } from '../harness/presencelb.ts';
import { startSipDevice, type SipDevice } from '../harness/sip-device.ts';
import { STATS_LOG_INTERVAL_MS } from '../../src/dataplane/dataplane-server.ts';
import { startDelayProxy, type DelayProxy } from './_delay-proxy.ts';

/** DemoAppServer is what scripts/demo-app-server.mjs (plain JavaScript) starts. */
interface DemoAppServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}
const { startDemoAppServer } = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts/demo-app-server.mjs')).href)) as {
  startDemoAppServer(o: { name: string; log?: (line: string) => void }): Promise<DemoAppServer>;
};

/** DOMAIN is the SIP domain of the rig's users. */
export const DOMAIN = 'presencelb.test';

/** DataplaneCounts is one 'dataplane counts' log line of presencelb. */
export interface DataplaneCounts {
  readonly openStreams: number;
  readonly openFlows: number;
  readonly streamsTotal: number;
  readonly flowsTotal: number;
}

/** Answer is an HTTP answer through Envoy. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: any;
}

/** RigOptions choose the identity source (and its bootstrap) and presence timing. */
export interface RigOptions {
  readonly identity: 'jwt' | 'header';
  /** bootstrap defaults to envoy/envoy.yaml for jwt, envoy/envoy-trusted-header.yaml for header. */
  readonly bootstrap?: string;
  /** presence.stepTimeoutMs for presencelb (default 2000). */
  readonly stepTimeoutMs?: number;
  /** extProc and xds are merged into presencelb's sections of those names (e.g. accessLogLagMs, pins). */
  readonly extProc?: Record<string, unknown>;
  readonly xds?: Record<string, unknown>;
  /**
   * flowLog: Envoy writes a flow log (the bootstrap's file access logger, e.g. envoy/envoy-flow-log.yaml) to a file
   * of the rig's, which presencelb follows (extProc.flowLog) and may rotate through Envoy's admin interface once
   * rotateBytes were read.
   */
  readonly flowLog?: { readonly rotateBytes?: number };
}

/** Rig is a running data path. */
export interface Rig {
  readonly plb: Presencelb;
  readonly envoy: EnvoyHandle;
  /** flowLogPath is the flow log's file (RigOptions.flowLog), or null. */
  readonly flowLogPath: string | null;
  readonly kamailio: Kamailio;
  /** presenceProxy sits between presencelb and Kamailio; its delay holds back Kamailio's answers. */
  readonly presenceProxy: DelayProxy;
  readonly db: Knex;
  readonly key: SigningKey;
  readonly listenerPort: number;
  /** token mints a JWT with the rig's key (sub and the rest as in TokenOptions). */
  token(o: TokenOptions): string;
  /** get sends GET path through Envoy with headers; as names a user to send a valid token for (jwt) or the header. */
  get(path: string, o?: { as?: string; headers?: Record<string, string> }): Promise<Answer>;
  /** flowsOf returns the stored flows of a user (rows: a stream each, or a span of several), oldest first. */
  flowsOf(user: string): Promise<any[]>;
  /** streamsOf is how many HTTP streams a user's stored flows stand for (each row's `streams`). */
  streamsOf(user: string): Promise<number>;
  /** rowCounts counts the rows of the users and flows tables. */
  rowCounts(): Promise<{ users: number; flows: number }>;
  /** device starts a SIP UA registered as the user's own device (straight to Kamailio, not through the proxy). */
  device(user: string): Promise<SipDevice>;
  /** counts returns the latest 'dataplane counts' line, or null before the first. */
  counts(): DataplaneCounts | null;
  /** mark returns the number of ext_proc streams presencelb has seen so far (0 before the first). */
  mark(): number;
  /**
   * settled waits until presencelb has seen more streams than at `mark` and reports no open ext_proc stream and no
   * open flow, and still does STATS_LOG_INTERVAL_MS later (a line is logged at most that long after a change).
   */
  settled(mark: number, timeoutMs?: number): Promise<DataplaneCounts>;
  /**
   * unseen waits long enough for presencelb to have reported any new ext_proc stream, and returns the streams it
   * has seen in all (equal to a mark taken before means: none since).
   */
  unseen(mark: number): Promise<number>;
  stop(): Promise<void>;
}

/** startRig starts every part and waits until Envoy has its configuration from presencelb; if a part fails, it stops the others. */
export function startRig(o: RigOptions): Promise<Rig> {
  return Teardown.guard((td) => buildRig(o, td));
}

async function buildRig(o: RigOptions, td: Teardown): Promise<Rig> {
  const [xdsPort, extProcPort, adminPort] = await freePorts(3);
  const flowLogPath = o.flowLog ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plb-flowlog-')), 'flows.log') : null;
  const flowLog = o.flowLog && {
    files: [{ path: flowLogPath!, envoyAdmin: `http://127.0.0.1:${adminPort}` }],
    ...(o.flowLog.rotateBytes !== undefined ? { rotateBytes: o.flowLog.rotateBytes } : {}),
  };
  const key = newSigningKey();
  const kamailio = td.add(await startKamailio(), (k) => k.stop());
  const presenceProxy = td.add(await startDelayProxy(kamailio.port), (p) => p.close());
  const apps = td.add(await Promise.all(['app-a', 'app-b'].map((name) => startDemoAppServer({ name, log: () => undefined }))), (as) => Promise.all(as.map((a) => a.close())));
  const plb = td.add(await startPresencelb({
    identity: { source: o.identity, header: 'x-user-id' },
    xds: { listen: `127.0.0.1:${xdsPort}`, ...o.xds },
    extProc: { listen: `127.0.0.1:${extProcPort}`, ...o.extProc, ...(flowLog ? { flowLog } : {}) },
    presence: { wsUrl: `ws://127.0.0.1:${presenceProxy.port}`, domain: DOMAIN, stepTimeoutMs: o.stepTimeoutMs ?? 2000 },
    lifecycle: { graceMs: 1000, reconnectWindowMs: 60000 },
    applicationServers: apps.map((a) => ({ name: a.name, host: a.host, port: a.port })),
  }), (p) => p.stop());
  const bootstrap = o.bootstrap ?? (o.identity === 'jwt' ? DEFAULT_BOOTSTRAP : TRUSTED_HEADER_BOOTSTRAP);
  const envoy = td.add(await startEnvoy({
    xdsPort: xdsPort!,
    extProcPort: extProcPort!,
    adminPort: adminPort!,
    bootstrap,
    ...(o.identity === 'jwt' ? { jwks: key.jwks } : {}),
    ...(flowLogPath ? { flowLogPath } : {}),
  }), (e) => e.stop());
  await envoy.waitReady(20000);
  const db = knex({ client: 'sqlite3', connection: { filename: plb.dbFile }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
  const counts = (): DataplaneCounts | null => {
    for (let i = plb.lines.length - 1; i >= 0; i--) {
      const d = (plb.lines[i] as LogLine & { dataplane?: DataplaneCounts }).dataplane;
      if (d) return d;
    }
    return null;
  };
  const token = (t: TokenOptions) => mintToken(key, t);
  const devices: SipDevice[] = [];
  const count = async (table: string) => Number((await db(table).count({ n: '*' }))[0]!.n);
  return {
    plb,
    envoy,
    flowLogPath,
    kamailio,
    presenceProxy,
    db,
    key,
    listenerPort: envoy.ports.listenerPort,
    token,
    async get(path, g = {}) {
      const h: Record<string, string> = {};
      if (g.as) {
        if (o.identity === 'jwt') h.authorization = `Bearer ${token({ sub: g.as })}`;
        else h['x-user-id'] = g.as;
      }
      Object.assign(h, g.headers);
      const r = await fetch(`${envoy.listenerUrl}${path}`, { headers: h, signal: AbortSignal.timeout(15000) });
      const text = await r.text();
      let body: any = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: r.status, headers: r.headers, text, body };
    },
    flowsOf: (user) => db('flows').where('user_id', user).orderBy('started_at'),
    streamsOf: async (user) => (await db('flows').where('user_id', user)).reduce((n: number, f: any) => n + Number(f.streams), 0),
    rowCounts: async () => ({ users: await count('users'), flows: await count('flows') }),
    async device(user) {
      const d = await startSipDevice({ wsUrl: kamailio.wsUrl, domain: DOMAIN, user });
      devices.push(d);
      return d;
    },
    counts,
    mark: () => counts()?.streamsTotal ?? 0,
    async settled(mark, timeoutMs = 10000) {
      const idle = () => {
        const c = counts();
        return c && c.streamsTotal > mark && c.openStreams === 0 && c.openFlows === 0 ? c : null;
      };
      const what = () => `presencelb to report no open stream or flow after stream ${mark} (last: ${JSON.stringify(counts())})`;
      for (;;) {
        await waitFor(what(), idle, timeoutMs);
        await new Promise((r) => setTimeout(r, STATS_LOG_INTERVAL_MS + 150));
        const c = idle();
        if (c) return c;
      }
    },
    async unseen(mark) {
      // Nothing new to report means no new 'dataplane counts' line: wait out two reporting intervals and more.
      await new Promise((r) => setTimeout(r, 2 * STATS_LOG_INTERVAL_MS + 500));
      return counts()?.streamsTotal ?? 0;
    },
    async stop() {
      for (const d of devices) await d.stop().catch(() => undefined);
      await envoy.stop();
      await plb.stop();
      await db.destroy();
      await Promise.all(apps.map((a) => a.close()));
      await presenceProxy.close();
      await kamailio.stop();
    },
  };
}

/** RawAnswer is what came back on a raw connection: the status line's code (0 if none) and everything read. */
export interface RawAnswer {
  readonly status: number;
  readonly raw: string;
  readonly body: string;
}

/**
 * rawRequest sends one HTTP/1.1 request written byte for byte (fetch would merge duplicate headers and refuse
 * CR/LF in values) and reads until the server closes. localAddress picks the source address (127.0.0.2: an
 * untrusted source for envoy-trusted-header.yaml).
 */
export function rawRequest(port: number, head: string, o: { localAddress?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    const chunks: Buffer[] = [];
    s.setTimeout(10000, () => s.destroy(new Error('raw request timed out')));
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      resolve({ status: m ? Number(m[1]) : 0, raw, body: raw.slice(raw.indexOf('\r\n\r\n') + 4) });
    });
    s.write(head);
  });
}

/** requestHead builds a GET request head with the given extra header lines and Connection: close. */
export const requestHead = (path: string, lines: readonly string[]): string =>
  ['GET ' + path + ' HTTP/1.1', 'host: app', 'connection: close', ...lines, '', ''].join('\r\n');
