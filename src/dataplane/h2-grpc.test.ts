import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import http2 from 'node:http2';
import { frame, FrameReader, GrpcStatus, H2GrpcServer, type CallHandlers, type GrpcCall } from './h2-grpc.ts';

// FrameReader.

test('FrameReader: messages come out whole however the bytes are chunked', (t) => {
  const msgs = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(70000, 7)];
  const wire = Buffer.concat(msgs.map(frame));
  for (const size of [1, 2, 5, 6, 13, 4096, wire.length]) {
    const r = new FrameReader(1 << 20);
    const out: Buffer[] = [];
    for (let at = 0; at < wire.length; at += size) {
      const p = r.push(wire.subarray(at, at + size));
      if (!p.ok) return t.fail(p.message);
      out.push(...p.messages);
    }
    t.deepEqual(out, msgs, `chunks of ${size}`);
    t.false(r.partial);
  }
});

test('FrameReader: an ended half message is partial; compressed, badly flagged and oversized messages are refused', (t) => {
  const r = new FrameReader(10);
  const p = r.push(frame(Buffer.from('0123456789')).subarray(0, 8));
  t.true(p.ok);
  t.true(r.partial);
  const big = new FrameReader(10).push(frame(Buffer.alloc(11)));
  t.like(big, { ok: false, code: GrpcStatus.RESOURCE_EXHAUSTED });
  const compressed = frame(Buffer.from('x'));
  compressed[0] = 1;
  t.like(new FrameReader(10).push(compressed), { ok: false, code: GrpcStatus.UNIMPLEMENTED });
  compressed[0] = 9;
  t.like(new FrameReader(10).push(compressed), { ok: false, code: GrpcStatus.INTERNAL });
});

// The server, against grpc-js's client.

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const Client = grpc.makeGenericClientConstructor(
  {
    Echo: { path: '/t.S/Echo', requestStream: true, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
    Count: { path: '/t.S/Count', requestStream: true, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
    Nope: { path: '/t.S/Nope', requestStream: true, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  },
  'S',
);

interface Served {
  readonly port: number;
  readonly server: H2GrpcServer;
  readonly closed: string[];
}

/**
 * serve starts a server with Echo (bidi: answers each message upper-cased; 'stop' finishes the call at once,
 * 'fail' fails it) and Count (client streaming: answers with the number of messages once the client ends).
 */
async function serve(maxMessageBytes = 1024): Promise<Served> {
  const closed: string[] = [];
  const server = new H2GrpcServer({
    maxMessageBytes,
    methods: [
      {
        path: '/t.S/Echo',
        decode: (b) => b.toString(),
        encode: (m) => Buffer.from(String((m as { s: string }).s)),
        handle: (call: GrpcCall): CallHandlers<string> => ({
          message: (s) => {
            if (s === 'stop') return call.finish();
            if (s === 'fail') return call.fail(GrpcStatus.INVALID_ARGUMENT, 'asked to fail: 100% é');
            call.write({ s: s.toUpperCase() });
          },
          end: () => call.finish(),
          closed: () => closed.push('echo'),
        }),
      },
      {
        path: '/t.S/Count',
        decode: (b) => b,
        encode: (m) => Buffer.from(String((m as { n: number }).n)),
        handle: (call: GrpcCall): CallHandlers<Buffer> => {
          let n = 0;
          return {
            message: () => void n++,
            end: () => {
              call.write({ n });
              call.finish();
            },
            closed: () => closed.push('count'),
          };
        },
      },
    ],
  });
  const port = await server.listen('127.0.0.1', 0);
  return { port, server, closed };
}

function echo(port: number, sends: string[], endAfter = true): Promise<{ got: string[]; status: grpc.StatusObject }> {
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
  const call = c.Echo() as grpc.ClientDuplexStream<Buffer, Buffer>;
  const got: string[] = [];
  call.on('data', (b: Buffer) => got.push(b.toString()));
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  for (const s of sends) call.write(Buffer.from(s));
  if (endAfter) call.end();
  return status.then((st) => {
    c.close();
    return { got, status: st };
  });
}

/** openEcho opens an Echo call that stays open, once its first message has been answered. */
async function openEcho(port: number): Promise<{ c: any; call: grpc.ClientDuplexStream<Buffer, Buffer>; status: Promise<grpc.StatusObject> }> {
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
  const call = c.Echo() as grpc.ClientDuplexStream<Buffer, Buffer>;
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  await new Promise<void>((resolve) => {
    call.once('data', () => resolve());
    call.write(Buffer.from('hi'));
  });
  return { c, call, status };
}

test('a bidirectional call: every message answered, OK when the client ends, closed() once', async (t) => {
  const s = await serve();
  const r = await echo(s.port, ['a', 'bc', '']);
  t.deepEqual(r.got, ['A', 'BC', '']);
  t.is(r.status.code, grpc.status.OK);
  await new Promise((res) => setTimeout(res, 50));
  t.deepEqual(s.closed, ['echo']);
  await s.server.close(100);
});

test('the server may finish before the client ends: the client sees OK, not a reset', async (t) => {
  const s = await serve();
  const r = await echo(s.port, ['x', 'stop'], false);
  t.deepEqual(r.got, ['X']);
  t.is(r.status.code, grpc.status.OK, r.status.details);
  await s.server.close(100);
});

test('a failed call carries its status and message', async (t) => {
  const s = await serve();
  const r = await echo(s.port, ['x', 'fail']);
  t.is(r.status.code, grpc.status.INVALID_ARGUMENT);
  t.is(r.status.details, 'asked to fail: 100% é');
  const first = await echo(s.port, ['fail']);
  t.is(first.status.code, grpc.status.INVALID_ARGUMENT, 'also as a trailers-only answer');
  t.is(first.status.details, 'asked to fail: 100% é');
  await s.server.close(100);
});

test('a client-streaming call is answered once, when the client ends', async (t) => {
  const s = await serve();
  const c = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()) as any;
  const answer = await new Promise<string>((resolve, reject) => {
    const call = c.Count((err: Error | null, b: Buffer) => (err ? reject(err) : resolve(b.toString())));
    for (let i = 0; i < 5; i++) call.write(Buffer.from('m'));
    call.end();
  });
  t.is(answer, '5');
  c.close();
  await s.server.close(100);
});

test('an unknown method is UNIMPLEMENTED, an oversized message RESOURCE_EXHAUSTED; the server goes on', async (t) => {
  const s = await serve(8);
  const c = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()) as any;
  const nope = await new Promise<grpc.StatusObject>((resolve) => {
    const call = c.Nope();
    call.on('error', () => undefined);
    call.on('status', resolve);
    call.end();
  });
  t.is(nope.code, grpc.status.UNIMPLEMENTED);
  t.regex(nope.details, /unknown method \/t\.S\/Nope/);
  c.close();
  const big = await echo(s.port, ['0123456789']);
  t.is(big.status.code, grpc.status.RESOURCE_EXHAUSTED);
  const after = await echo(s.port, ['ok']);
  t.deepEqual(after.got, ['OK']);
  await s.server.close(100);
});

test('not gRPC (GET, other content-type) is refused with a status', async (t) => {
  const s = await serve();
  const session = http2.connect(`http://127.0.0.1:${s.port}`);
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
    const req = session.request({ ':method': 'GET', ':path': '/t.S/Echo' });
    req.on('response', resolve);
    req.end();
  });
  t.is(headers['grpc-status'], String(GrpcStatus.INVALID_ARGUMENT));
  session.close();
  await s.server.close(100);
});

test('a client that resets its call: closed() runs, the server goes on', async (t) => {
  const s = await serve();
  const { c, call } = await openEcho(s.port);
  call.cancel();
  for (let i = 0; i < 50 && s.closed.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
  t.deepEqual(s.closed, ['echo']);
  c.close();
  t.deepEqual((await echo(s.port, ['again'])).got, ['AGAIN']);
  await s.server.close(100);
});

test('close: new connections are refused, an open call is cut after the grace period', async (t) => {
  const s = await serve();
  const { c, call, status } = await openEcho(s.port);
  const t0 = Date.now();
  await s.server.close(200);
  t.true(Date.now() - t0 >= 150, 'waited for the open call');
  t.not((await status).code, grpc.status.OK);
  c.close();
  const refused = await echo(s.port, ['x']);
  t.is(refused.status.code, grpc.status.UNAVAILABLE);
});
