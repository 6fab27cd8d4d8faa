/**
 * TLS to the control plane: presencelb serves xDS and ext_proc + access log over mutual TLS, and a real Envoy
 * started from envoy/envoy-tls.yaml gets its configuration and sends its requests' flows over it. A client without
 * a certificate is refused.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { parse } from 'yaml';
import path from 'node:path';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { serviceClient } from '../../src/protos/envoy.ts';
import { mintToken, newSigningKey } from '../../scripts/demo-token.ts';
import { makeSecrets } from '../admin/certs.ts';
import { startAppServers, type AppServerHandle } from '../harness/app-server.ts';
import { REPO_ROOT, startEnvoy, validateBootstrap, type EnvoyHandle } from '../harness/envoy.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { freePorts } from '../harness/ports.ts';
import { startPresencelb, type Presencelb } from '../harness/presencelb.ts';

const secrets = makeSecrets();
const key = newSigningKey();
let kamailio: Kamailio | undefined;
let apps: AppServerHandle[] = [];
let plb: Presencelb | undefined;
let envoy: EnvoyHandle | undefined;
let xdsPort = 0;

/** tlsBootstrap writes envoy/envoy-tls.yaml with the test's certificate files in place of /etc/presencelb/tls/. */
function tlsBootstrap(): string {
  fs.copyFileSync(secrets.clientCert, path.join(secrets.dir, 'envoy.crt'));
  fs.copyFileSync(secrets.clientKey, path.join(secrets.dir, 'envoy.key'));
  const text = fs.readFileSync(path.join(REPO_ROOT, 'envoy/envoy-tls.yaml'), 'utf8').replaceAll('/etc/presencelb/tls/', `${secrets.dir}/`);
  const file = path.join(secrets.dir, 'envoy-tls.yaml');
  fs.writeFileSync(file, text);
  return file;
}

test.before(async () => {
  let extProcPort: number;
  [xdsPort, extProcPort] = (await freePorts(2)) as [number, number];
  kamailio = await startKamailio();
  apps = await startAppServers(['app-a', 'app-b']);
  const tls = { certFile: secrets.serverCert, keyFile: secrets.serverKey, clientCaFile: secrets.caFile };
  plb = await startPresencelb({
    xds: { listen: `127.0.0.1:${xdsPort}`, tls },
    extProc: { listen: `127.0.0.1:${extProcPort}`, tls },
    presence: { wsUrl: kamailio.wsUrl, domain: 'presencelb.test' },
    applicationServers: apps.map((a) => ({ name: a.name, host: a.host, port: a.port })),
  });
  envoy = await startEnvoy({ bootstrap: tlsBootstrap(), xdsPort, extProcPort, jwks: key.jwks });
  await envoy.waitReady(30000);
});
test.after.always(async () => {
  await envoy?.stop();
  await plb?.stop();
  await Promise.all(apps.map((a) => a.close()));
  await kamailio?.stop();
});

test('envoy/envoy-tls.yaml is envoy/envoy.yaml plus TLS on the two presencelb clusters (scripts/render-tls-bootstrap.mjs)', (t) => {
  const load = (f: string) => parse(fs.readFileSync(path.join(REPO_ROOT, f), 'utf8'));
  const tlsDoc = load('envoy/envoy-tls.yaml');
  const withTls = tlsDoc.static_resources.clusters.filter((c: any) => c.transport_socket).map((c: any) => c.name);
  t.deepEqual(withTls, ['presencelb_xds', 'presencelb_ext_proc']);
  for (const c of tlsDoc.static_resources.clusters) delete c.transport_socket;
  t.deepEqual(tlsDoc, load('envoy/envoy.yaml'), 'regenerate with: node scripts/render-tls-bootstrap.mjs');
});

test('envoy/envoy-tls.yaml validates with real certificate files', (t) => {
  const r = validateBootstrap(tlsBootstrap());
  t.true(r.ok, r.output);
});

test('Envoy gets its configuration over mutual TLS and its requests are tracked over TLS', async (t) => {
  const clusters = await envoy!.configDump('resource=dynamic_active_clusters');
  t.deepEqual(clusters.configs.map((c: any) => c.cluster.name).sort(), ['app-a', 'app-b']);
  const user = randomUUID();
  const token = mintToken(key, { sub: user });
  const r = await fetch(`${envoy!.listenerUrl}/hello`, { headers: { authorization: `Bearer ${token}` } });
  t.is(r.status, 200);
  await plb!.waitForEvent(user, 'provide_access', 20000);
  const stats = await envoy!.stats('presencelb_xds.*ssl.handshake|presencelb_ext_proc.*ssl.handshake');
  t.true(Object.values(stats).some((v) => Number(v) > 0), JSON.stringify(stats));
});

test('a client without a certificate is refused by the xDS server', async (t) => {
  const Csds = serviceClient('envoy.service.status.v3.ClientStatusDiscoveryService');
  const noCert = grpcCredentials.createSsl(fs.readFileSync(secrets.caFile));
  const client = new Csds(`127.0.0.1:${xdsPort}`, noCert) as any;
  const err = await new Promise<any>((resolve) => client.FetchClientStatus({}, { deadline: Date.now() + 5000 }, (e: unknown) => resolve(e)));
  t.truthy(err, 'the call fails');
  client.close();
  const plain = new Csds(`127.0.0.1:${xdsPort}`, grpcCredentials.createInsecure()) as any;
  const err2 = await new Promise<any>((resolve) => plain.FetchClientStatus({}, { deadline: Date.now() + 5000 }, (e: unknown) => resolve(e)));
  t.truthy(err2, 'a plaintext call fails too');
  plain.close();
});
