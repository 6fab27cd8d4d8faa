/**
 * Envoy bootstraps for benchmarks, made at run time from the shipped envoy/ files by YAML edits (nothing under
 * envoy/ is changed). The base is envoy/envoy-trusted-header.yaml when it exists, else envoy/envoy.yaml; either way
 * the identity is a plain `x-user-id` header, as presencelb's `identity.source: header` reads it.
 *
 * Variants of the Envoy under test (routes, clusters and endpoints always come from presencelb over ADS, so every
 * variant routes exactly alike):
 *   plain          no ext_proc filter, no access log at all: Envoy alone.
 *   blocking       ext_proc as shipped (request headers, Envoy waits for the answer) and the gRPC access log to
 *                  presencelb (flow ends).
 *   observability  the same with ext_proc `observability_mode: true` (Envoy sends and does not wait).
 *   access-log     no ext_proc filter: the gRPC access log alone, with a periodic entry for streams open over 1 s,
 *                  as envoy/envoy-access-log.yaml sets it (presencelb learns every flow from the log).
 *   flow-log       access-log over a file: Envoy's file logger writes the flow log presencelb follows, in place of
 *                  the gRPC access log, as envoy/envoy-flow-log.yaml sets it (src/dataplane/flow-log.ts).
 *   off-path       blocking, with presencelb's extProc.offPath: a tracked user's route disables ext_proc, and the
 *                  flow log (periodic entries included; the file logger, as in flow-log) reports that user's flows.
 *                  The ext_proc filter is named OFF_PATH_FILTER here only, so the per-route config presencelb serves
 *                  to every variant disables ext_proc in this variant alone.
 * In every variant the HTTP filters other than ext_proc and the router (JWT verification, header mutation) are
 * removed, and so is the stdout access log (its cost is Envoy's, not presencelb's).
 *
 * The upstream bootstrap is an Envoy whose two listeners answer every request at once with a direct_response, so
 * the application servers are never the bottleneck.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { configSchema } from '../../src/config/schema.ts';
import { flowLogFormat } from '../../src/dataplane/flow-log.ts';
import type { IdentitySettings } from '../../src/dataplane/identity.ts';
import { REPO_ROOT } from '../../test/harness/envoy.ts';

/** BENCH_IDENTITY is presencelb's identity config in benchmarks: the x-user-id header (presencelb.ts headerIdentity). */
export const BENCH_IDENTITY: IdentitySettings = configSchema.parse({ identity: { source: 'header', header: 'x-user-id' } }).identity;

/** Variant is a configuration of the Envoy under test. */
export type Variant = 'plain' | 'blocking' | 'observability' | 'access-log' | 'flow-log' | 'off-path';
/** VARIANTS in the order benchmarks run them. */
export const VARIANTS: readonly Variant[] = ['plain', 'blocking', 'observability', 'access-log', 'flow-log', 'off-path'];
/** usesFlowLog: the variants whose flows come from a flow log file (Envoy's file logger) instead of the gRPC access log. */
export const usesFlowLog = (v: Variant): boolean => v === 'flow-log' || v === 'off-path';
/** OFF_PATH_FILTER is the ext_proc filter's name in the off-path variant (presencelb's extProc.offPath.extProcFilter). */
export const OFF_PATH_FILTER = 'presencelb.off_path.ext_proc';

type Obj = Record<string, any>;

/** BaseBootstrap is the parsed file variants are made from, and its path. */
export interface BaseBootstrap {
  readonly file: string;
  readonly doc: Obj;
}

/** loadBaseBootstrap reads envoy/envoy-trusted-header.yaml if present, else envoy/envoy.yaml. */
export function loadBaseBootstrap(): BaseBootstrap {
  const trusted = path.join(REPO_ROOT, 'envoy/envoy-trusted-header.yaml');
  const file = fs.existsSync(trusted) ? trusted : path.join(REPO_ROOT, 'envoy/envoy.yaml');
  return { file, doc: YAML.parse(fs.readFileSync(file, 'utf8')) as Obj };
}

/** TestPorts are the places a variant's bootstrap points at. */
export interface TestPorts {
  readonly admin: number;
  readonly listener: number;
  readonly xds: number;
  readonly extProc: number;
  /** flowLog: the flow log's path, for the variants that write one (usesFlowLog). */
  readonly flowLog?: string;
}

const clone = <T>(x: T): T => structuredClone(x);

function appListener(doc: Obj): Obj {
  const l = (doc.static_resources?.listeners ?? []).find((x: Obj) => x.name === 'app_listener');
  if (!l) throw new Error("base bootstrap has no static listener 'app_listener'");
  return l;
}

/** hcmsOf returns the typed_config of every HTTP connection manager of a listener (all filter chains). */
function hcmsOf(listener: Obj): Obj[] {
  const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
  const out = chains.flatMap((chain: Obj) => (chain.filters ?? []).filter((f: Obj) => f.name === 'envoy.filters.network.http_connection_manager').map((f: Obj) => f.typed_config as Obj));
  if (out.length === 0) throw new Error(`listener '${listener.name}' has no http_connection_manager`);
  return out;
}

function clusterEndpoint(doc: Obj, name: string): Obj {
  const c = (doc.static_resources?.clusters ?? []).find((x: Obj) => x.name === name);
  const sa = c?.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.socket_address;
  if (!sa) throw new Error(`base bootstrap has no static cluster '${name}' with an endpoint`);
  return sa as Obj;
}

/**
 * variantBootstrap returns the bootstrap of one variant of the Envoy under test, and the names of the HTTP filters
 * and access loggers it removed from the base.
 */
export function variantBootstrap(base: BaseBootstrap, variant: Variant, ports: TestPorts, nodeId: string): { doc: Obj; removed: string[] } {
  const doc = clone(base.doc);
  const removed: string[] = [];
  doc.node = { ...doc.node, id: nodeId };
  doc.admin.address.socket_address.port_value = ports.admin;
  const listener = appListener(doc);
  listener.address.socket_address.port_value = ports.listener;
  clusterEndpoint(doc, 'presencelb_xds').port_value = ports.xds;
  clusterEndpoint(doc, 'presencelb_ext_proc').port_value = ports.extProc;
  const keepLoggers = variant === 'plain' ? [] : ['envoy.access_loggers.http_grpc'];
  const keepFilters = variant === 'plain' || variant === 'access-log' || variant === 'flow-log' ? ['envoy.filters.http.router'] : ['envoy.filters.http.ext_proc', OFF_PATH_FILTER, 'envoy.filters.http.router'];
  const note = (what: string) => {
    if (!removed.includes(what)) removed.push(what);
  };
  // Every filter chain is edited alike (the trusted-header base has a chain for the gateway's address, which the
  // benchmark's 127.0.0.1 clients match, and a default chain for everyone else).
  for (const hcm of hcmsOf(listener)) {
    hcm.access_log = (hcm.access_log ?? []).filter((a: Obj) => keepLoggers.includes(a.name) || (note(`access_log ${a.name}`), false));
    if (hcm.access_log.length === 0) delete hcm.access_log;
    hcm.http_filters = (hcm.http_filters ?? []).filter((f: Obj) => keepFilters.includes(f.name) || (note(`http_filter ${f.name}`), false));
    // (Chains may share one filter list through a YAML alias: the off-path rename below may have been done already.)
    const extProc = hcm.http_filters.find((f: Obj) => f.name === 'envoy.filters.http.ext_proc' || f.name === OFF_PATH_FILTER);
    if (variant === 'plain') continue;
    if (usesFlowLog(variant)) {
      // The gRPC logger's place goes to the file logger, in the format presencelb parses for its header identity.
      if (!ports.flowLog) throw new Error(`${variant} needs a flow log path`);
      const at = hcm.access_log?.findIndex((a: Obj) => a.name === 'envoy.access_loggers.http_grpc') ?? -1;
      if (at < 0) throw new Error('base bootstrap has no envoy.access_loggers.http_grpc logger to replace');
      hcm.access_log[at] = {
        name: 'envoy.access_loggers.file',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: ports.flowLog, log_format: { json_format: flowLogFormat(BENCH_IDENTITY) } },
      };
    }
    if (variant === 'access-log' || variant === 'flow-log') {
      // As envoy/envoy-access-log.yaml sets it.
      hcm.access_log_options = { access_log_flush_interval: '1s' };
      continue;
    }
    if (!extProc) throw new Error('base bootstrap has no envoy.filters.http.ext_proc filter');
    if (variant === 'off-path') {
      extProc.name = OFF_PATH_FILTER;
      hcm.access_log_options = { access_log_flush_interval: '1s' };
    }
    // Only jwt_authn's namespace is ever forwarded; with a header identity there is none.
    delete extProc.typed_config.metadata_options;
    // As envoy/envoy-observability.yaml sets it (5 s is also Envoy's default).
    if (variant === 'observability') Object.assign(extProc.typed_config, { observability_mode: true, deferred_close_timeout: '5s' });
  }
  return { doc, removed };
}

/**
 * upstreamBootstrap returns an Envoy bootstrap with one direct_response listener per port (HTTP 200, body "ok",
 * headers x-app-server: names[i] and x-presencelb-pin echoed), using the base's HTTP connection manager with only
 * the router and a static route table.
 */
export function upstreamBootstrap(base: BaseBootstrap, adminPort: number, ports: readonly number[], names: readonly string[] = ['app-a', 'app-b']): Obj {
  const template = hcmsOf(appListener(base.doc))[0]!;
  const listeners = ports.map((port, i) => {
    const hcm = clone(template);
    hcm.stat_prefix = `upstream_${i}`;
    delete hcm.rds;
    delete hcm.access_log;
    delete hcm.early_header_mutation_extensions;
    hcm.route_config = {
      name: `upstream_${i}`,
      virtual_hosts: [{ name: 'any', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }] }],
      // Who answered, and the pin header presencelb set (if any), as the application servers of the tests say.
      response_headers_to_add: [
        { header: { key: 'x-app-server', value: names[i] ?? `upstream_${i}` } },
        { header: { key: 'x-presencelb-pin', value: '%REQ(x-presencelb-pin)%' } },
      ],
    };
    hcm.http_filters = (hcm.http_filters ?? []).filter((f: Obj) => f.name === 'envoy.filters.http.router');
    return {
      name: `upstream_${i}`,
      address: { socket_address: { address: '127.0.0.1', port_value: port } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
    };
  });
  return {
    node: { id: 'bench-upstream', cluster: 'bench' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: { listeners },
  };
}

/** writeBootstrap writes doc as YAML to dir/name.yaml and returns the path. */
export function writeBootstrap(dir: string, name: string, doc: Obj): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}
