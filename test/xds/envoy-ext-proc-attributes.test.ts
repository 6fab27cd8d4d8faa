/**
 * What the bootstrap's ext_proc filter gives presencelb's ext_proc server, checked with a raw ext_proc server
 * against the real Envoy: at request-headers time `xds.cluster_name` already names the application server the
 * weighted default route chose (and `xds.route_name` the route), the response-headers message carries
 * `upstream.address` and `xds.cluster_name`, and Envoy ends the ext_proc stream right after the response-headers
 * exchange, not when the HTTP stream completes.
 */
import test from 'ava';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { serviceDefinition } from '../../src/protos/envoy.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { startEnvoy } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { baseInput, pinOf, startRig, USER_A } from './_fixture.ts';

interface Seen {
  stream: number;
  at: number;
  what: string;
  attrs: Record<string, string>;
  headers: Record<string, string>;
}

/** startRawExtProc answers every message with an empty (no-op) response and records what it saw and when. */
async function startRawExtProc(): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const svc = serviceDefinition('envoy.service.ext_proc.v3.ExternalProcessor');
  const server = new Server();
  let n = 0;
  server.addService(svc, {
    Process(call: ServerDuplexStream<any, any>) {
      const stream = ++n;
      call.on('data', (req: any) => {
        const what = req.request as string;
        // Maps come out of this descriptor image as repeated {key, value} entries.
        const fields = (req.attributes ?? []).find((e: any) => e.key === 'envoy.filters.http.ext_proc')?.value?.fields ?? [];
        const attrs = Object.fromEntries(fields.map((f: any) => [f.key, f.value[f.value.kind]]));
        const headers = Object.fromEntries((req[what]?.headers?.headers ?? []).map((h: any) => [h.key, Buffer.from(h.raw_value ?? '').toString() || h.value]));
        seen.push({ stream, at: Date.now(), what, attrs, headers });
        call.write({ [what]: {} });
      });
      call.on('end', () => {
        seen.push({ stream, at: Date.now(), what: 'half-close', attrs: {}, headers: {} });
        call.end();
      });
      call.on('cancelled', () => seen.push({ stream, at: Date.now(), what: 'cancelled', attrs: {}, headers: {} }));
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, seen, server };
}

test('ext_proc sees the chosen cluster at request time, the upstream address at response time, and the stream ends early', async (t) => {
  const ext = await startRawExtProc();
  const rig = await startRig({ envoy: false });
  rig.envoy = await startEnvoy({ xdsPort: rig.xdsPort, extProcPort: ext.port, nodeId: 'envoy-extproc' });
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  try {
    pub.publishCurrent();
    await rig.envoy.waitReady();
    const portOf = Object.fromEntries(rig.apps.map((a) => [a.name, `127.0.0.1:${a.port}`]));

    // Default (weighted) route: the cluster named at request-headers time is the one that answers.
    for (let i = 0; i < 8; i++) {
      const before = ext.seen.length;
      const r = await fetch(`${rig.envoy.listenerUrl}/x`, { headers: { 'x-user-id': USER_A } });
      const answered = (await r.json()).server as string;
      await waitFor('ext_proc messages', () => ext.seen.length >= before + 2);
      const [req, resp] = ext.seen.slice(before).filter((s) => s.what.endsWith('_headers'));
      t.deepEqual(req!.attrs, { 'xds.cluster_name': answered, 'xds.route_name': 'default' });
      t.is(req!.headers['x-user-id'], USER_A);
      t.deepEqual(resp!.attrs, { 'xds.cluster_name': answered, 'upstream.address': portOf[answered] });
      t.is(resp!.headers[':status'], '200');
    }
    const servers = new Set(ext.seen.filter((s) => s.what === 'request_headers').map((s) => s.attrs['xds.cluster_name']));
    t.deepEqual([...servers].sort(), ['app-a', 'app-b'], 'both servers were chosen at least once');

    // A pinned user: the pin's route and cluster.
    await rig.ads.waitForAck((await pub.pin(pinOf(USER_A, "app-b"))).snapshotVersion, { timeoutMs: 5000 });
    const before = ext.seen.length;
    await (await fetch(`${rig.envoy.listenerUrl}/x`, { headers: { 'x-user-id': USER_A } })).text();
    await waitFor('ext_proc messages', () => ext.seen.length >= before + 2);
    t.deepEqual(ext.seen[before]!.attrs, { 'xds.cluster_name': 'app-b', 'xds.route_name': `pin:${USER_A}` });

    // A slow streaming response: the ext_proc stream ends (Envoy resets it; no half-close) right after the
    // response-headers exchange, while the HTTP body keeps flowing for another ~1.2 s.
    const start = ext.seen.length;
    const r = await fetch(`${rig.envoy.listenerUrl}/stream?chunks=4&intervalMs=300`, { headers: { 'x-user-id': USER_A } });
    await r.text();
    const bodyDoneAt = Date.now();
    const id = ext.seen.slice(start).find((s) => s.what === 'request_headers')!.stream;
    await waitFor('stream end', () => ext.seen.some((s) => s.stream === id && (s.what === 'cancelled' || s.what === 'half-close')));
    const mine = ext.seen.filter((s) => s.stream === id);
    t.deepEqual(mine.map((s) => s.what), ['request_headers', 'response_headers', 'cancelled']);
    const endedAt = mine[2]!.at;
    t.true(endedAt - mine[1]!.at < 200, 'ended right after response headers');
    t.true(bodyDoneAt - endedAt > 800, `ended ${bodyDoneAt - endedAt} ms before the body completed`);
  } finally {
    await rig.close();
    ext.server.forceShutdown();
  }
});
