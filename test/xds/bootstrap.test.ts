/** envoy/envoy.yaml: valid for Envoy, the ext_proc filter exactly as specified, and renderBootstrap's rewriting. */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { DEFAULT_BOOTSTRAP, renderBootstrap, validateBootstrap } from '../harness/envoy.ts';

const parse = (f: string) => YAML.parse(fs.readFileSync(f, 'utf8'));

test('envoy/envoy.yaml passes envoy --mode validate', (t) => {
  const r = validateBootstrap(DEFAULT_BOOTSTRAP);
  t.true(r.ok, r.output);
});

test('the bootstrap has the default ports, ADS for CDS and RDS, and ext_proc before the router', (t) => {
  const b = parse(DEFAULT_BOOTSTRAP);
  t.deepEqual(b.node, { id: 'envoy-1', cluster: 'presencelb' });
  t.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  t.like(b.dynamic_resources, { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'presencelb_xds' } }] }, cds_config: { ads: {} } });
  t.is(b.dynamic_resources.lds_config, undefined, 'the listener is static');
  const [listener, ...more] = b.static_resources.listeners;
  t.deepEqual(more, []);
  t.is(listener.name, 'app_listener');
  t.deepEqual(listener.address.socket_address, { address: '127.0.0.1', port_value: 10000 });
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  t.like(hcm.rds, { route_config_name: 'presencelb-routes', config_source: { ads: {} } });
  // The HTTP filters themselves (identity, ext_proc) are the data path's: test/dataplane/bootstraps.test.ts checks them.
  const filters = hcm.http_filters.map((f: any) => f.name);
  t.is(filters.at(-1), 'envoy.filters.http.router', 'the router, which reads the routes from RDS, is the last filter');
  t.true(filters.indexOf('envoy.filters.http.ext_proc') < filters.indexOf('envoy.filters.http.router'), 'ext_proc sees each request before the router');
  const clusters = Object.fromEntries(b.static_resources.clusters.map((c: any) => [c.name, c]));
  t.deepEqual(Object.keys(clusters).sort(), ['presencelb_ext_proc', 'presencelb_xds']);
  for (const [name, port] of [['presencelb_xds', 18000], ['presencelb_ext_proc', 18001]] as const) {
    t.is(clusters[name].type, 'STATIC');
    t.truthy(clusters[name].typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options);
    t.deepEqual(clusters[name].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: port });
  }
});

test('renderBootstrap rewrites the four ports and the node id, and the result still validates', (t) => {
  const out = renderBootstrap(DEFAULT_BOOTSTRAP, { adminPort: 19901, listenerPort: 20000, xdsPort: 28000, extProcPort: 28001, nodeId: 'envoy-x' });
  const b = parse(out);
  const orig = parse(DEFAULT_BOOTSTRAP);
  t.is(b.admin.address.socket_address.port_value, 19901);
  t.is(b.static_resources.listeners[0].address.socket_address.port_value, 20000);
  const port = (name: string) => b.static_resources.clusters.find((c: any) => c.name === name).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value;
  t.is(port('presencelb_xds'), 28000);
  t.is(port('presencelb_ext_proc'), 28001);
  t.deepEqual(b.node, { id: 'envoy-x', cluster: 'presencelb' });
  // Nothing else changed.
  orig.admin.address.socket_address.port_value = 19901;
  orig.static_resources.listeners[0].address.socket_address.port_value = 20000;
  orig.static_resources.clusters.find((c: any) => c.name === 'presencelb_xds').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 28000;
  orig.static_resources.clusters.find((c: any) => c.name === 'presencelb_ext_proc').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 28001;
  orig.node.id = 'envoy-x';
  t.deepEqual(b, orig);
  const v = validateBootstrap(out);
  t.true(v.ok, v.output);
});

test('renderBootstrap refuses a bootstrap missing one of its places', (t) => {
  const b = parse(DEFAULT_BOOTSTRAP);
  b.static_resources.clusters = b.static_resources.clusters.filter((c: any) => c.name !== 'presencelb_ext_proc');
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plb-bad-')), 'envoy.yaml');
  fs.writeFileSync(f, YAML.stringify(b));
  t.throws(() => renderBootstrap(f, { adminPort: 1, listenerPort: 2, xdsPort: 3, extProcPort: 4 }), { message: /presencelb_ext_proc/ });
});
