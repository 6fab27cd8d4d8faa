/** envoy/envoy-delta.yaml: valid for Envoy, renderable by the harness, and envoy/envoy.yaml in every other respect. */
import test from 'ava';
import fs from 'node:fs';
import YAML from 'yaml';
import { DEFAULT_BOOTSTRAP, renderBootstrap, TRUSTED_HEADER_BOOTSTRAP, validateBootstrap } from '../harness/envoy.ts';
import { DELTA_BOOTSTRAP, deltaVariant } from '../harness/envoy-delta.ts';

const parse = (f: string) => YAML.parse(fs.readFileSync(f, 'utf8'));

test('envoy/envoy-delta.yaml passes envoy --mode validate', (t) => {
  const r = validateBootstrap(DELTA_BOOTSTRAP);
  t.true(r.ok, r.output);
});

test('envoy/envoy-delta.yaml is envoy/envoy.yaml with ads_config.api_type DELTA_GRPC, nothing else', (t) => {
  const delta = parse(DELTA_BOOTSTRAP);
  const sotw = parse(DEFAULT_BOOTSTRAP);
  t.is(delta.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  t.is(sotw.dynamic_resources.ads_config.api_type, 'GRPC');
  sotw.dynamic_resources.ads_config.api_type = 'DELTA_GRPC';
  t.deepEqual(delta, sotw, 'out of sync with envoy/envoy.yaml: copy it below the header of envoy/envoy-delta.yaml and set api_type: DELTA_GRPC');
});

test('renderBootstrap renders it (ports, node id) and the result validates; deltaVariant makes any bootstrap delta', (t) => {
  const out = parse(renderBootstrap(DELTA_BOOTSTRAP, { adminPort: 19901, listenerPort: 20000, xdsPort: 28000, extProcPort: 28001, nodeId: 'envoy-d' }));
  t.is(out.admin.address.socket_address.port_value, 19901);
  t.is(out.node.id, 'envoy-d');
  t.is(out.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  const variant = deltaVariant(TRUSTED_HEADER_BOOTSTRAP);
  const v = parse(variant);
  const reference = parse(TRUSTED_HEADER_BOOTSTRAP);
  reference.dynamic_resources.ads_config.api_type = 'DELTA_GRPC';
  t.deepEqual(v, reference);
  const r = validateBootstrap(variant);
  t.true(r.ok, r.output);
});
