/**
 * AdminServer is the operator's gRPC endpoint (grpc-js adapter): presencelb.admin.v1.AdminService, the standard
 * health service grpc.health.v1.Health (SERVING while started, NOT_SERVING while stopping) and server reflection
 * (v1 and v1alpha, so `grpcurl list` works without .proto files), on one port, optionally over (mutual) TLS and
 * behind a bearer token (auth.ts). A received message larger than maxMessageBytes is refused by grpc-js with
 * RESOURCE_EXHAUSTED before any handler runs.
 */
import { Server, type ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Clock, Logger } from '../core/ports.ts';
import type { AdminBackend } from './admin-backend.ts';
import { ADMIN_SERVICE, adminProtos, reflectionDefinition } from './admin-proto.ts';
import { adminServiceImplementation } from './admin-service.ts';
import { bearerAuth } from './auth.ts';
import { EventWatchers } from './watch-events.ts';

/** AdminServerOptions are fixed at construction. */
export interface AdminServerOptions {
  readonly backend: AdminBackend;
  readonly credentials: ServerCredentials;
  /** tls names the transport, for the log: 'off', 'tls' or 'mutual'. */
  readonly tls: string;
  /** token, when not null, is the bearer token every call but health checks must carry. */
  readonly token: string | null;
  readonly maxMessageBytes: number;
  readonly clock: Pick<Clock, 'now'>;
  readonly log: Logger;
}

/** AdminServer serves the admin API; start, then stop. */
export class AdminServer {
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [ADMIN_SERVICE]: 'NOT_SERVING' });
  private readonly watchers: EventWatchers;
  private started = false;

  constructor(private readonly o: AdminServerOptions) {
    const interceptors: ServerInterceptor[] = o.token === null ? [] : [bearerAuth(o.token)];
    this.server = new Server({ interceptors, 'grpc.max_receive_message_length': o.maxMessageBytes });
    const protos = adminProtos();
    this.watchers = new EventWatchers(o.backend, o.log);
    this.server.addService(protos.service, adminServiceImplementation(o.backend, this.watchers, () => o.clock.now(), o.log));
    this.health.addToServer(this.server);
    new ReflectionService(reflectionDefinition()).addToServer(this.server);
  }

  /** start binds listen (host:port; port 0 picks one), marks the service SERVING and resolves with the port. */
  async start(listen: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(listen, this.o.credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.started = true;
    this.setServing('SERVING');
    this.o.log.info({ listen, port, auth: this.o.token !== null, tls: this.o.tls }, 'admin API listening');
    return port;
  }

  /** stop marks the service NOT_SERVING, ends WatchEvents streams and shuts down (forcibly after graceMs). */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.setServing('NOT_SERVING');
    this.watchers.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      force.unref();
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.o.log.info({}, 'admin API stopped');
  }

  private setServing(s: 'SERVING' | 'NOT_SERVING'): void {
    this.health.setStatus('', s);
    this.health.setStatus(ADMIN_SERVICE, s);
  }
}
