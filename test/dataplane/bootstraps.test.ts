/**
 * The three shipped Envoy bootstraps, without running them: each passes `envoy --mode validate`; envoy/envoy.yaml
 * verifies JWTs in the order that keeps clients from naming themselves, and agrees with presencelb's config
 * defaults; its inline JWKS is the demo key's; the two variants differ from it only where their header says.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DEMO_JWT_DIR, demoSigningKey } from '../../scripts/demo-token.ts';
import { configSchema } from '../../src/config/schema.ts';
import { flowLogFormat } from '../../src/dataplane/flow-log.ts';
import { ACCESS_LOG_BOOTSTRAP, DEFAULT_BOOTSTRAP, FLOW_LOG_BOOTSTRAP, OBSERVABILITY_BOOTSTRAP, renderBootstrap, TRUSTED_HEADER_BOOTSTRAP, validateBootstrap } from '../harness/envoy.ts';

type Obj = Record<string, any>;
const parse = (f: string): Obj => YAML.parse(fs.readFileSync(f, 'utf8')) as Obj;
const listenerOf = (b: Obj): Obj => b.static_resources.listeners.find((l: Obj) => l.name === 'app_listener');
const hcmOf = (chain: Obj): Obj => chain.filters.find((f: Obj) => f.name === 'envoy.filters.network.http_connection_manager').typed_config;
const filterOf = (hcm: Obj, name: string): Obj => hcm.http_filters.find((f: Obj) => f.name === name);
const defaults = configSchema.parse({});

for (const [name, file] of [
  ['envoy/envoy.yaml', DEFAULT_BOOTSTRAP],
  ['envoy/envoy-trusted-header.yaml', TRUSTED_HEADER_BOOTSTRAP],
  ['envoy/envoy-observability.yaml', OBSERVABILITY_BOOTSTRAP],
  ['envoy/envoy-access-log.yaml', ACCESS_LOG_BOOTSTRAP],
  ['envoy/envoy-flow-log.yaml', FLOW_LOG_BOOTSTRAP],
] as const) {
  test(`${name} passes envoy --mode validate`, (t) => {
    const r = validateBootstrap(file);
    t.true(r.ok, r.output);
  });
}

test('every bootstrap removes clients\' pin headers (and, but from the trusted gateway, identity headers) before routing, and lets presencelb set the pin header and no other', (t) => {
  const pinHeader = defaults.xds.pinHeader;
  const delta = path.join(path.dirname(DEFAULT_BOOTSTRAP), 'envoy-delta.yaml');
  const tls = path.join(path.dirname(DEFAULT_BOOTSTRAP), 'envoy-tls.yaml');
  for (const file of [DEFAULT_BOOTSTRAP, TRUSTED_HEADER_BOOTSTRAP, OBSERVABILITY_BOOTSTRAP, ACCESS_LOG_BOOTSTRAP, FLOW_LOG_BOOTSTRAP, delta, tls]) {
    const listener = listenerOf(parse(file));
    for (const chain of [...listener.filter_chains, ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])]) {
      const hcm = hcmOf(chain);
      const where = `${path.basename(file)} ${chain.name ?? 'chain'}`;
      // The identity header too (pin routes and off-path routes match it), except on the trusted gateway's chain.
      const identity = chain.name === 'trusted_gateway' ? [] : [{ remove: defaults.identity.header }];
      t.deepEqual(
        hcm.early_header_mutation_extensions?.map((e: Obj) => [e.name, e.typed_config.mutations]),
        [['envoy.http.early_header_mutation.header_mutation', [{ remove: pinHeader }, ...identity]]],
        `${where}: removed before a route is chosen`,
      );
      if (file === ACCESS_LOG_BOOTSTRAP || file === FLOW_LOG_BOOTSTRAP) {
        t.false(hcm.http_filters.some((f: Obj) => f.name === 'envoy.filters.http.ext_proc'), `${where}: no ext_proc, nothing to set`);
        continue;
      }
      t.deepEqual(filterOf(hcm, 'envoy.filters.http.ext_proc').typed_config.mutation_rules, { disallow_all: true, allow_expression: { regex: `^${pinHeader}$` } }, where);
    }
  }
});

test('envoy/envoy.yaml: client identity header removed, then JWT verified, then ext_proc, then the router', (t) => {
  const hcm = hcmOf(listenerOf(parse(DEFAULT_BOOTSTRAP)).filter_chains[0]);
  t.deepEqual(hcm.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.header_mutation', 'envoy.filters.http.jwt_authn', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
  t.deepEqual(filterOf(hcm, 'envoy.filters.http.header_mutation').typed_config.mutations, { request_mutations: [{ remove: defaults.identity.header }] });

  const jwt = filterOf(hcm, 'envoy.filters.http.jwt_authn').typed_config;
  const providers = Object.entries(jwt.providers) as [string, Obj][];
  t.is(providers.length, 1);
  const [providerName, provider] = providers[0]!;
  t.like(provider, { issuer: 'presencelb-demo', audiences: ['presencelb'], payload_in_metadata: defaults.identity.jwtPayloadKey, clear_route_cache: true });
  t.deepEqual(provider.claim_to_headers, [{ header_name: defaults.identity.header, claim_name: 'sub' }], 'the pin routes match the header Envoy derives from sub');
  t.falsy(provider.allow_missing ?? jwt.rules[0].requires.allow_missing, 'no request goes on without a token');
  t.deepEqual(jwt.rules, [{ match: { prefix: '/' }, requires: { provider_name: providerName } }], 'every path needs a token');

  const ext = filterOf(hcm, 'envoy.filters.http.ext_proc').typed_config;
  t.like(ext, { failure_mode_allow: true, message_timeout: '0.5s', mutation_rules: { disallow_all: true } });
  t.is(ext.observability_mode, undefined);
  t.deepEqual(ext.metadata_options, { forwarding_namespaces: { untyped: [defaults.identity.jwtMetadataNamespace] } }, 'only the verified payload is forwarded');
  t.is(defaults.identity.source, 'jwt', "presencelb's default identity source matches the shipped bootstrap");
});

test('the inline JWKS of envoy/envoy.yaml is the public half of the demo key in envoy/demo-jwt/', (t) => {
  const hcm = hcmOf(listenerOf(parse(DEFAULT_BOOTSTRAP)).filter_chains[0]);
  const provider = Object.values(filterOf(hcm, 'envoy.filters.http.jwt_authn').typed_config.providers)[0] as Obj;
  const inline = JSON.parse(provider.local_jwks.inline_string);
  t.deepEqual(inline, JSON.parse(fs.readFileSync(path.join(DEMO_JWT_DIR, 'jwks.json'), 'utf8')));
  t.deepEqual(inline, JSON.parse(demoSigningKey().jwks), 'jwks.json verifies demo-private-key.pem');
  t.regex(fs.readFileSync(path.join(DEMO_JWT_DIR, 'README.md'), 'utf8'), /DEMO ONLY/);
});

test('envoy/envoy-observability.yaml is envoy/envoy.yaml with ext_proc in observability mode and an RBAC check of the subject', (t) => {
  const obs = parse(OBSERVABILITY_BOOTSTRAP);
  const hcm = hcmOf(listenerOf(obs).filter_chains[0]);
  t.deepEqual(hcm.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.header_mutation', 'envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
  const principal = filterOf(hcm, 'envoy.filters.http.rbac').typed_config.rules.policies['uuid-subject'].principals[0].sourced_metadata;
  t.like(principal, { metadata_source: 'DYNAMIC', metadata_matcher: { filter: defaults.identity.jwtMetadataNamespace, path: [{ key: defaults.identity.jwtPayloadKey }, { key: 'sub' }] } });
  const ext = filterOf(hcm, 'envoy.filters.http.ext_proc').typed_config;
  t.like(ext, { observability_mode: true, deferred_close_timeout: '5s' });

  // Undo exactly those differences: what is left is envoy/envoy.yaml.
  hcm.http_filters = hcm.http_filters.filter((f: Obj) => f.name !== 'envoy.filters.http.rbac');
  delete ext.observability_mode;
  delete ext.deferred_close_timeout;
  t.deepEqual(obs, parse(DEFAULT_BOOTSTRAP));
});

test('envoy/envoy-access-log.yaml is envoy/envoy-observability.yaml without ext_proc, logging streams still open every second', (t) => {
  const al = parse(ACCESS_LOG_BOOTSTRAP);
  const hcm = hcmOf(listenerOf(al).filter_chains[0]);
  t.deepEqual(hcm.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.header_mutation', 'envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac', 'envoy.filters.http.router']);
  t.deepEqual(hcm.access_log_options, { access_log_flush_interval: '1s' });
  const grpc = hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.http_grpc');
  t.is(grpc.filter, undefined, 'presencelb gets the periodic entries');
  const stdout = hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.stdout');
  t.deepEqual(stdout.filter, { log_type_filter: { types: ['DownstreamPeriodic'], exclude: true } }, 'stdout gets one line a request');
  // presencelb's lag must cover the flush interval and the batch interval.
  const flushMs = Number.parseFloat(hcm.access_log_options.access_log_flush_interval) * 1000;
  const batchMs = Number.parseFloat(grpc.typed_config.common_config.buffer_flush_interval) * 1000;
  const lag = /accessLogLagMs: (\d+)/.exec(fs.readFileSync(ACCESS_LOG_BOOTSTRAP, 'utf8'));
  t.truthy(lag, 'the header names the lag to configure');
  t.true(Number(lag![1]) > flushMs + batchMs);
  t.is(configSchema.parse({ extProc: { accessLogLagMs: Number(lag![1]) } }).extProc.accessLogLagMs, Number(lag![1]));

  // Undo exactly those differences: what is left is envoy/envoy-observability.yaml.
  const obs = parse(OBSERVABILITY_BOOTSTRAP);
  const obsHcm = hcmOf(listenerOf(obs).filter_chains[0]);
  obsHcm.http_filters = obsHcm.http_filters.filter((f: Obj) => f.name !== 'envoy.filters.http.ext_proc');
  delete obs.layered_runtime; // ext_proc's graceful close
  t.deepEqual(al, obs);
});

test('envoy/envoy-flow-log.yaml is envoy/envoy-access-log.yaml with a file logger in presencelb\'s flow log format in place of the gRPC access log', (t) => {
  const fl = parse(FLOW_LOG_BOOTSTRAP);
  const hcm = hcmOf(listenerOf(fl).filter_chains[0]);
  const file = hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.file');
  t.is(file.filter, undefined, 'presencelb gets the periodic entries');
  t.deepEqual(file.typed_config.log_format, { json_format: flowLogFormat(defaults.identity) }, 'the format presencelb parses, for its default (jwt) identity');
  t.false(JSON.stringify(fl).includes('presencelb_ext_proc'), 'no ext_proc, no gRPC access log: no data-path cluster');
  const text = fs.readFileSync(FLOW_LOG_BOOTSTRAP, 'utf8');
  t.regex(text, /--file-flush-interval-msec 50/, 'the header says how to run Envoy');
  const lag = /(\d+) is shipped/.exec(text);
  t.truthy(lag, 'the header names the lag to configure');
  const config = configSchema.parse({ xds: { pins: 'routes' }, extProc: { accessLogLagMs: Number(lag![1]), offPath: { enabled: true }, flowLog: { files: [{ path: file.typed_config.path }] } } });
  t.is(config.extProc.accessLogLagMs, Number(lag![1]), 'accepted even with offPath');

  // Undo exactly those differences: what is left is envoy/envoy-access-log.yaml.
  const al = parse(ACCESS_LOG_BOOTSTRAP);
  const alHcm = hcmOf(listenerOf(al).filter_chains[0]);
  const grpcAt = alHcm.access_log.findIndex((a: Obj) => a.name === 'envoy.access_loggers.http_grpc');
  t.is(hcm.access_log.indexOf(file), grpcAt, 'in the gRPC logger\'s place');
  hcm.access_log[grpcAt] = alHcm.access_log[grpcAt];
  fl.static_resources.clusters.push(al.static_resources.clusters.find((c: Obj) => c.name === 'presencelb_ext_proc'));
  t.deepEqual(fl, al);
});

test('renderBootstrap points a flow log bootstrap\'s file logger at a test\'s file', (t) => {
  const out = parse(renderBootstrap(FLOW_LOG_BOOTSTRAP, { adminPort: 1, listenerPort: 2, xdsPort: 3, extProcPort: 4, flowLogPath: '/tmp/x/flows.log' }));
  t.is(hcmOf(listenerOf(out).filter_chains[0]).access_log.find((a: Obj) => a.name === 'envoy.access_loggers.file').typed_config.path, '/tmp/x/flows.log');
  t.throws(() => renderBootstrap(DEFAULT_BOOTSTRAP, { adminPort: 1, listenerPort: 2, xdsPort: 3, extProcPort: 4, flowLogPath: '/tmp/x' }), { message: /no file access logger/ });
});

test('envoy/envoy.yaml logs streams still open every second (extProc.offPath reads them); stdout gets one line a request', (t) => {
  const hcm = hcmOf(listenerOf(parse(DEFAULT_BOOTSTRAP)).filter_chains[0]);
  t.deepEqual(hcm.access_log_options, { access_log_flush_interval: '1s' });
  t.is(hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.http_grpc').filter, undefined, 'presencelb gets the periodic entries');
  t.deepEqual(hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.stdout').filter, { log_type_filter: { types: ['DownstreamPeriodic'], exclude: true } });
  // The ext_proc filter's name is the key presencelb's off-path routes disable it by (extProc.offPath.extProcFilter).
  t.true(hcm.http_filters.some((f: Obj) => f.name === configSchema.parse({}).extProc.offPath.extProcFilter));
});

test('envoy/envoy-trusted-header.yaml keeps the header from the gateway, removes it from anyone else, and is otherwise envoy/envoy.yaml', (t) => {
  const trusted = parse(TRUSTED_HEADER_BOOTSTRAP);
  const listener = listenerOf(trusted);
  t.is(listener.filter_chains.length, 1);
  const gateway = listener.filter_chains[0];
  t.deepEqual(gateway.filter_chain_match, { direct_source_prefix_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] }, 'matched on the TCP peer, not on a header');
  const fromGateway = hcmOf(gateway);
  const fromOthers = hcmOf(listener.default_filter_chain);
  t.deepEqual(fromGateway.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
  t.deepEqual(fromOthers.http_filters.map((f: Obj) => f.name), ['envoy.filters.http.header_mutation', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router']);
  t.deepEqual(fromOthers.http_filters[0].typed_config.mutations, { request_mutations: [{ remove: defaults.identity.header }] });
  t.deepEqual(fromOthers.http_filters.slice(1), fromGateway.http_filters);
  const early = (h: Obj) => h.early_header_mutation_extensions[0].typed_config.mutations;
  t.deepEqual(early(fromOthers), [...early(fromGateway), { remove: defaults.identity.header }], 'removed from anyone else before a route is chosen');
  const rest = (h: Obj) => ({ ...h, http_filters: undefined, stat_prefix: undefined, early_header_mutation_extensions: undefined });
  t.deepEqual(rest(fromOthers), rest(fromGateway));

  // The gateway's chain is envoy/envoy.yaml's without JWT verification and metadata forwarding.
  const reference = parse(DEFAULT_BOOTSTRAP);
  const refHcm = hcmOf(listenerOf(reference).filter_chains[0]);
  refHcm.http_filters = refHcm.http_filters.filter((f: Obj) => !['envoy.filters.http.header_mutation', 'envoy.filters.http.jwt_authn'].includes(f.name));
  delete filterOf(refHcm, 'envoy.filters.http.ext_proc').typed_config.metadata_options;
  // Nor is the identity header removed before routing there: the gateway set it.
  early(refHcm).pop();
  t.deepEqual(fromGateway, refHcm);
  delete listener.default_filter_chain;
  delete gateway.filter_chain_match;
  delete gateway.name;
  t.deepEqual(trusted, reference);
});

test("renderBootstrap puts a test's JWKS into every jwt_authn provider, and refuses a JWKS for a bootstrap without one", (t) => {
  const ports = { adminPort: 1, listenerPort: 2, xdsPort: 3, extProcPort: 4 };
  for (const file of [DEFAULT_BOOTSTRAP, OBSERVABILITY_BOOTSTRAP]) {
    const out = parse(renderBootstrap(file, { ...ports, jwks: '{"keys":[]}' }));
    const provider = Object.values(filterOf(hcmOf(listenerOf(out).filter_chains[0]), 'envoy.filters.http.jwt_authn').typed_config.providers)[0] as Obj;
    t.deepEqual(provider.local_jwks, { inline_string: '{"keys":[]}' });
  }
  t.throws(() => renderBootstrap(TRUSTED_HEADER_BOOTSTRAP, { ...ports, jwks: '{"keys":[]}' }), { message: /jwt_authn/ });
});
