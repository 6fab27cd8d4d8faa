// Writes envoy/envoy-tls.yaml: envoy/envoy.yaml plus mutual TLS on the two presencelb clusters. Run from the repo root.
import fs from 'node:fs';
import { parseDocument } from 'yaml';
const doc = parseDocument(fs.readFileSync('envoy/envoy.yaml', 'utf8'));
const clusters = doc.getIn(['static_resources', 'clusters']);
for (const c of clusters.items) {
  if (!['presencelb_xds', 'presencelb_ext_proc'].includes(c.get('name'))) continue;
  c.set('transport_socket', doc.createNode({
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        alpn_protocols: ['h2'],
        tls_certificates: [{ certificate_chain: { filename: '/etc/presencelb/tls/envoy.crt' }, private_key: { filename: '/etc/presencelb/tls/envoy.key' } }],
        validation_context: { trusted_ca: { filename: '/etc/presencelb/tls/ca.crt' } },
      },
    },
  }));
}
let text = doc.toString({ lineWidth: 0 });
const header = `# envoy/envoy.yaml with TLS to the control plane: Envoy reaches presencelb's xDS server (ADS, CSDS) and its
# ext_proc + access log server over mutual TLS. Envoy checks presencelb's certificate against ca.crt and presents
# envoy.crt, which presencelb checks against its xds.tls.clientCaFile / extProc.tls.clientCaFile; use a CA dedicated
# to presencelb (no SAN pinning is configured). presencelb's side, in its YAML config:
#   xds:     { tls: { certFile: server.crt, keyFile: server.key, clientCaFile: ca.crt } }
#   extProc: { tls: { certFile: server.crt, keyFile: server.key, clientCaFile: ca.crt } }
# Everything else is identical to envoy/envoy.yaml (a test checks this): regenerate after changing that file.
#
`;
fs.writeFileSync('envoy/envoy-tls.yaml', header + text);
