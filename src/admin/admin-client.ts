/**
 * AdminClient is a grpc-js client of presencelb.admin.v1.AdminService for the CLI and tests: plaintext or TLS
 * (optionally presenting a client certificate), a bearer token sent as metadata on every call, a deadline per
 * unary call. Failures reject with grpc-js's ServiceError (code, details, metadata) unchanged.
 */
import { readFileSync } from 'node:fs';
import { credentials, Metadata, type CallOptions, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { adminProtos } from './admin-proto.ts';

/** AdminClientOptions say where the API is and how to reach it. */
export interface AdminClientOptions {
  /** addr is host:port. */
  readonly addr: string;
  /** token is sent as `authorization: Bearer <token>` when given. */
  readonly token?: string | null;
  /** tls connects over TLS, trusting caFile (default: the system's roots); certFile and keyFile for mutual TLS. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string } | null;
  /** deadlineMs bounds each unary call (default 10 s). */
  readonly deadlineMs?: number;
}

type Unary = (req: object, md: Metadata, opts: CallOptions, cb: (e: ServiceError | null, res?: unknown) => void) => void;
type Streaming = (req: object, md: Metadata) => ClientReadableStream<unknown>;

/** AdminClient calls the admin API; close() when done. */
export class AdminClient {
  private readonly client: Client;

  constructor(private readonly o: AdminClientOptions) {
    const creds = o.tls
      ? credentials.createSsl(
          o.tls.caFile ? readFileSync(o.tls.caFile) : null,
          o.tls.keyFile ? readFileSync(o.tls.keyFile) : null,
          o.tls.certFile ? readFileSync(o.tls.certFile) : null,
        )
      : credentials.createInsecure();
    const { Client } = adminProtos();
    this.client = new Client(o.addr, creds, { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  }

  /** call invokes a unary method by name (e.g. 'GetUser') and resolves with the response. */
  call<Res = Record<string, any>>(method: string, req: object = {}): Promise<Res> {
    const fn = (this.client as unknown as Record<string, Unary>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`AdminService has no method ${method}`));
    const deadline = Date.now() + (this.o.deadlineMs ?? 10000);
    return new Promise((resolve, reject) => fn.call(this.client, req, this.metadata(), { deadline }, (e, res) => (e ? reject(e) : resolve(res as Res))));
  }

  /** watchEvents opens the WatchEvents stream (optionally for one user); cancel() it to stop. */
  watchEvents(uuid = ''): ClientReadableStream<Record<string, any>> {
    const fn = (this.client as unknown as Record<string, Streaming>).WatchEvents!;
    return fn.call(this.client, { uuid }, this.metadata()) as ClientReadableStream<Record<string, any>>;
  }

  close(): void {
    this.client.close();
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.o.token) md.set('authorization', `Bearer ${this.o.token}`);
    return md;
  }
}
