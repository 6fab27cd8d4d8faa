/**
 * The grpc-js implementation of presencelb.admin.v1.AdminService: each unary method is a handler returning a
 * Result (user-handlers.ts, action-handlers.ts, system-handlers.ts), turned here into the call's response or status
 * (status.ts). An exception escaping a handler (e.g. STORE_FAILED) ends the call too, never the process.
 */
import type { handleUnaryCall, ServerUnaryCall, sendUnaryData, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../core/ports.ts';
import type { Result } from '../core/result.ts';
import type { AdminBackend } from './admin-backend.ts';
import { purgeUser, reconnectUser } from './action-handlers.ts';
import { errorFromThrown, toServiceError } from './status.ts';
import { getStats, listEnvoys, listRouteUpdates } from './system-handlers.ts';
import { getUser, listFlows, listUsers } from './user-handlers.ts';
import type { EventWatchers } from './watch-events.ts';

type Handler = (req: Record<string, unknown>) => Promise<Result<object>>;

/** adminServiceImplementation binds every AdminService method to the backend. */
export function adminServiceImplementation(b: AdminBackend, watchers: EventWatchers, now: () => number, log: Logger): UntypedServiceImplementation {
  const unary =
    (method: string, fn: Handler): handleUnaryCall<Record<string, unknown>, object> =>
    (call: ServerUnaryCall<Record<string, unknown>, object>, cb: sendUnaryData<object>) => {
      fn(call.request ?? {}).then(
        (r) => (r.ok ? cb(null, r.value) : cb(toServiceError(r.errors))),
        (e: unknown) => {
          log.warn({ method, err: e instanceof Error ? e.message : String(e) }, 'admin call failed');
          cb(errorFromThrown(e));
        },
      );
    };
  return {
    ListUsers: unary('ListUsers', (req) => listUsers(b, req)),
    GetUser: unary('GetUser', (req) => getUser(b, req)),
    ListFlows: unary('ListFlows', (req) => listFlows(b, req)),
    PurgeUser: unary('PurgeUser', (req) => purgeUser(b, req)),
    ReconnectUser: unary('ReconnectUser', (req) => reconnectUser(b, req)),
    ListRouteUpdates: unary('ListRouteUpdates', () => listRouteUpdates(b, now())),
    ListEnvoys: unary('ListEnvoys', () => listEnvoys(b)),
    GetStats: unary('GetStats', () => getStats(b)),
    WatchEvents: (call: Parameters<EventWatchers['serve']>[0]) => watchers.serve(call),
  };
}
