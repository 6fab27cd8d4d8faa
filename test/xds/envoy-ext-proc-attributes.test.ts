/**
 * What the bootstrap's ext_proc filter gives presencelb's ext_proc server, checked with a raw ext_proc server
 * against the real Envoy: at request-headers time `xds.cluster_name` already names the application server the
 * weighted default route chose (or the pin's); that is the only message Envoy sends (response headers are skipped);
 * Envoy ends a stream the server keeps once the response headers have passed, long before a long-lived HTTP
 * stream completes (with the bootstraps' graceful close, by half-closing it rather than resetting it); and a server that ends it after its answer (as presencelb does) changes nothing for the
 * request, whose body goes on flowing.
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

/**
 * startRawExtProc answers every message with an empty (no-op) response and records what it saw and when; while
 * `endAfterAnswer` is set it also ends each stream with OK right after answering, as presencelb does.
 */
async function startRawExtProc(): Promise<{ port: number; seen: Seen[]; server: Server; endAfterAnswer: { on: boolean } }> {
  const endAfterAnswer = { on: false };
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
        if (endAfterAnswer.on) {
          seen.push({ stream, at: Date.now(), what: 'ended by server', attrs: {}, headers: {} });
          call.end();
        }
      });
      call.on('end', () => {
        seen.push({ stream, at: Date.now(), what: 'half-close', attrs: {}, headers: {} });
        call.end();
      });
      call.on('cancelled', () => seen.push({ stream, at: Date.now(), what: 'cancelled', attrs: {}, headers: {} }));
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, seen, server, endAfterAnswer };
}

test('ext_proc sees the chosen cluster at request time, request headers only; a stream ended by the server leaves the request be', async (t) => {
  const ext = await startRawExtProc();
  const rig = await startRig({ envoy: false });
  rig.envoy = await startEnvoy({ xdsPort: rig.xdsPort, extProcPort: ext.port, nodeId: 'envoy-extproc' });
  const pub = new XdsRoutePublisher({ sink: rig.ads, base: baseInput(rig.apps) });
  try {
    pub.publishCurrent();
    await rig.envoy.waitReady();

    // Default (weighted) route: the cluster named at request-headers time is the one that answers.
    for (let i = 0; i < 8; i++) {
      const before = ext.seen.length;
      const r = await fetch(`${rig.envoy.listenerUrl}/x`, { headers: { 'x-user-id': USER_A } });
      const answered = (await r.json()).server as string;
      await waitFor('the stream to end', () => ext.seen.slice(before).some((s) => s.what === 'cancelled' || s.what === 'half-close'));
      const mine = ext.seen.slice(before).filter((s) => s.what.endsWith('_headers'));
      t.deepEqual(mine.map((s) => s.what), ['request_headers'], 'request headers only: response headers are skipped');
      t.deepEqual(mine[0]!.attrs, { 'xds.cluster_name': answered });
      t.is(mine[0]!.headers['x-user-id'], USER_A);
    }
    const servers = new Set(ext.seen.filter((s) => s.what === 'request_headers').map((s) => s.attrs['xds.cluster_name']));
    t.deepEqual([...servers].sort(), ['app-a', 'app-b'], 'both servers were chosen at least once');

    // A pinned user: the pin's cluster.
    await rig.ads.waitForAck((await pub.pin(pinOf(USER_A, 'app-b'))).snapshotVersion, { timeoutMs: 5000 });
    const before = ext.seen.length;
    await (await fetch(`${rig.envoy.listenerUrl}/x`, { headers: { 'x-user-id': USER_A } })).text();
    await waitFor('ext_proc messages', () => ext.seen.length >= before + 1);
    t.deepEqual(ext.seen[before]!.attrs, { 'xds.cluster_name': 'app-b' });

    // A slow streaming response (~1.2 s of body). A server that keeps the stream: Envoy ends it itself once the
    // response headers have passed (it has nothing to send), long before the HTTP stream completes. With the
    // bootstraps' runtime flag ext_proc_graceful_grpc_close it half-closes (and later cancels what the server keeps).
    const kept = await streamOnce(rig.envoy.listenerUrl, ext.seen);
    t.deepEqual(kept.mine.map((s) => s.what).slice(0, 2), ['request_headers', 'half-close']);
    t.true(kept.bodyDoneAt - kept.mine[1]!.at > 800, `Envoy ended the stream ${kept.bodyDoneAt - kept.mine[1]!.at} ms before the body completed`);

    // A server that ends the stream after its answer (presencelb): the body still flows in full, and Envoy sends
    // nothing more on that stream.
    ext.endAfterAnswer.on = true;
    const ended = await streamOnce(rig.envoy.listenerUrl, ext.seen);
    t.is(ended.body.match(/chunk/g)?.length, 4, 'the whole body arrived');
    t.deepEqual(ended.mine.map((s) => s.what).slice(0, 2), ['request_headers', 'ended by server']);
    t.false(ended.mine.some((s) => s.what === 'response_headers'));
    t.true(ended.bodyDoneAt - ended.mine[1]!.at > 800, 'the stream ended long before the body completed');
  } finally {
    await rig.close();
    ext.server.forceShutdown();
  }
});

/** streamOnce makes one slow streaming request and returns the ext_proc events of its stream once that is over. */
async function streamOnce(url: string, seen: Seen[]): Promise<{ mine: Seen[]; body: string; bodyDoneAt: number }> {
  const start = seen.length;
  const r = await fetch(`${url}/stream?chunks=4&intervalMs=300`, { headers: { 'x-user-id': USER_A } });
  const body = await r.text();
  const bodyDoneAt = Date.now();
  const id = seen.slice(start).find((s) => s.what === 'request_headers')!.stream;
  const over = (s: Seen) => s.stream === id && ['cancelled', 'half-close', 'ended by server'].includes(s.what);
  await waitFor('stream end', () => seen.some(over));
  return { mine: seen.filter((s) => s.stream === id), body, bodyDoneAt };
}
