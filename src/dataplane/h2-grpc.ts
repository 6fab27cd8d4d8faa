/**
 * A lean gRPC server over node:http2 for the data path's two streaming methods (ext_proc's Process and the access
 * log's StreamAccessLogs), where Envoy opens one stream per HTTP request. grpc-js builds an intercepting call, a
 * metadata object, a deadline and a duplex stream for each one; here a call is the http2 stream, a frame reader
 * and the method's handler. The admin API and xDS stay on grpc-js.
 *
 * What it speaks (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): POST with content-type
 * application/grpc; length-prefixed messages (uncompressed: presencelb does not offer any grpc-encoding);
 * responses as headers, messages, then trailers with grpc-status; errors as trailers-only responses. A deadline
 * (grpc-timeout) is the client's to enforce.
 *
 * One more thing grpc-js cannot do: once a call's response is complete, the stream is closed with RST_STREAM
 * NO_ERROR after the trailers (RFC 9113 section 8.1: the request's remainder is not wanted), so it is gone on both
 * sides without an error. Envoy's own reset of each ext_proc stream is what the bootstraps' graceful-close runtime
 * flag turns off (ARCHITECTURE.md, "One connection to presencelb"): where it still comes first (observability
 * mode), Node makes it an Error, and past 1,000 a burst nghttp2 answers with GOAWAY.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TlsPem } from '../tls-credentials.ts';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** GrpcStatus codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;

/** GrpcCall is the server's side of one call, as a method's handler sees it. */
export interface GrpcCall {
  /** write sends one response message (the response headers go first, once). */
  write(msg: object): void;
  /** finish ends the call with OK. */
  finish(): void;
  /** fail ends the call with a non-OK status and a message. Once the call is over, all three are ignored. */
  fail(code: number, message: string): void;
}

/** CallHandlers are a method handler's callbacks for one call. */
export interface CallHandlers<Req> {
  /** message: one decoded request message. */
  message(req: Req): void;
  /** end: the client has sent its last message (half-close). */
  end(): void;
  /** closed: the stream is gone, after finish/fail or because the client reset it or the connection dropped. */
  closed(): void;
}

/** GrpcMethod is one streaming method: its path, its codecs and its handler. */
export interface GrpcMethod<Req> {
  /** path is '/package.Service/Method'. */
  readonly path: string;
  readonly decode: (buf: Buffer) => Req;
  readonly encode: (msg: object) => Buffer;
  readonly handle: (call: GrpcCall) => CallHandlers<Req>;
}

/** H2GrpcOptions fix the server at construction. */
export interface H2GrpcOptions {
  readonly methods: readonly GrpcMethod<any>[];
  /** maxMessageBytes bounds one request message; a larger one fails the call (RESOURCE_EXHAUSTED). */
  readonly maxMessageBytes: number;
  /** onError hears of connection-level errors (a client that went away, a TLS handshake that failed). */
  readonly onError?: (e: Error) => void;
}

/**
 * FrameReader splits a stream's DATA into gRPC messages (1 byte compressed flag, 4 bytes big-endian length, the
 * message), whatever the chunking. It refuses a compressed message and one larger than max.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly max: number) {}

  /** push takes one chunk and returns the messages it completed, or an error status once the input is unusable. */
  push(chunk: Buffer): { ok: true; messages: Buffer[] } | { ok: false; code: number; message: string } {
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      buf = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const messages: Buffer[] = [];
    let at = 0;
    while (buf.length - at >= 5) {
      const flag = buf[at]!;
      const len = buf.readUInt32BE(at + 1);
      if (flag !== 0) return { ok: false, code: flag === 1 ? GrpcStatus.UNIMPLEMENTED : GrpcStatus.INTERNAL, message: flag === 1 ? 'compressed messages are not accepted (no grpc-encoding is offered)' : `bad message flag ${flag}` };
      if (len > this.max) return { ok: false, code: GrpcStatus.RESOURCE_EXHAUSTED, message: `message of ${len} bytes exceeds the limit of ${this.max}` };
      if (buf.length - at - 5 < len) break;
      messages.push(buf.subarray(at + 5, at + 5 + len));
      at += 5 + len;
    }
    if (at < buf.length) {
      const rest = buf.subarray(at);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    return { ok: true, messages };
  }

  /** partial says a message has begun and not completed (the client ended mid-message). */
  get partial(): boolean {
    return this.pendingBytes > 0;
  }
}

/** frame returns a message with its gRPC length prefix. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

/** H2GrpcServer serves methods over HTTP/2, plaintext or TLS. */
export class H2GrpcServer {
  private server: http2.Http2Server | http2.Http2SecureServer | null = null;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly methods: ReadonlyMap<string, GrpcMethod<any>>;

  constructor(private readonly o: H2GrpcOptions) {
    this.methods = new Map(o.methods.map((m) => [m.path, m]));
  }

  /** listen binds host:port (port 0 picks one), plaintext or with tls, and resolves with the bound port. */
  listen(host: string, port: number, tls?: TlsPem): Promise<number> {
    if (this.server) throw new Error('H2GrpcServer: listen called twice');
    // Envoy multiplexes every ext_proc stream of a worker on one connection: no cap on concurrent streams here
    // (Envoy's circuit breakers bound them), and room for their buffers.
    const settings = { maxConcurrentStreams: 2 ** 31 - 1 };
    const common = { settings, maxSessionMemory: 256 };
    const server = tls
      ? http2.createSecureServer({ ...common, cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}), ALPNProtocols: ['h2'] })
      : http2.createServer(common);
    this.server = server;
    server.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', (e) => this.o.onError?.(e));
    });
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    server.on('tlsClientError', (e: Error) => this.o.onError?.(e));
    server.on('sessionError', (e: Error) => this.o.onError?.(e));
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve((server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * close stops accepting connections and asks every client to go away (GOAWAY), lets open calls finish for up to
   * graceMs, then destroys what is left.
   */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined); // a reset from the client; 'close' below does the rest
    const method = this.methods.get(headers[':path'] ?? '');
    const contentType = headers['content-type'] ?? '';
    if (!method || headers[':method'] !== 'POST' || !(contentType === 'application/grpc' || contentType.startsWith('application/grpc+') || contentType.startsWith('application/grpc;'))) {
      const why = !method ? `unknown method ${headers[':path'] ?? '(none)'}` : 'not a gRPC request (POST, content-type application/grpc)';
      trailersOnly(stream, method ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.UNIMPLEMENTED, why);
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `grpc-encoding ${String(encoding)} is not accepted`);
      return;
    }
    this.serve(stream, method);
  }

  private serve<Req>(stream: http2.ServerHttp2Stream, method: GrpcMethod<Req>): void {
    let done = false;
    let responded = false;
    let trailers: Record<string, string> = OK_TRAILERS;
    const respond = () => {
      if (responded) return;
      responded = true;
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', () => {
        stream.sendTrailers(trailers);
        closeAfterResponse(stream);
      });
    };
    const call: GrpcCall = {
      write: (msg) => {
        if (done || stream.destroyed) return;
        respond();
        stream.write(frame(method.encode(msg)));
      },
      finish: () => {
        if (done) return;
        done = true;
        if (stream.destroyed) return;
        respond();
        stream.end();
      },
      fail: (code, message) => {
        if (done) return;
        done = true;
        if (stream.destroyed) return;
        if (!responded) return trailersOnly(stream, code, message);
        trailers = { 'grpc-status': String(code), 'grpc-message': grpcMessage(message) };
        stream.end();
      },
    };
    const h = method.handle(call);
    const reader = new FrameReader(this.o.maxMessageBytes);
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      const r = reader.push(chunk);
      if (!r.ok) return call.fail(r.code, r.message);
      for (const buf of r.messages) {
        let req: Req;
        try {
          req = method.decode(buf);
        } catch (e) {
          return call.fail(GrpcStatus.INTERNAL, `cannot decode the request message: ${(e as Error).message}`);
        }
        h.message(req);
        if (done) return;
      }
    });
    stream.on('end', () => {
      if (done) return;
      if (reader.partial) return call.fail(GrpcStatus.INTERNAL, 'the request ended inside a message');
      h.end();
    });
    stream.on('close', () => {
      done = true;
      h.closed();
    });
  }
}

/** trailersOnly answers a call with a status alone (headers and trailers in one HEADERS frame). */
function trailersOnly(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': grpcMessage(message) }, { endStream: true });
  closeAfterResponse(stream);
}

/** grpcMessage percent-encodes a status message as gRPC asks: '%', and bytes outside printable ASCII, as %XX. */
function grpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message)) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * closeAfterResponse: the response is complete, whatever the client still sends is not wanted: RST_STREAM NO_ERROR
 * (see the module comment). Not at once: nghttp2 may put a RST_STREAM ahead of the trailers submitted just before
 * it, and the client would then see the call reset without a status. A turn of the event loop later they are out.
 */
function closeAfterResponse(stream: http2.ServerHttp2Stream): void {
  setImmediate(() => {
    if (!stream.closed) stream.close(NGHTTP2_NO_ERROR);
  });
}
