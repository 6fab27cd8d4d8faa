/**
 * Bearer-token authentication of the admin API, as a grpc-js server interceptor: when a token is configured, every
 * call must carry the metadata `authorization: Bearer <token>` or it ends with UNAUTHENTICATED before any handler
 * runs. Health checks (grpc.health.v1) are exempt, so probes need no secret. The comparison takes the same time
 * whatever the token given, and neither the token nor what the client sent is ever logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { HEALTH_SERVICE } from './admin-proto.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** isExempt says whether a method (its path, '/package.Service/Method') needs no token. */
export const isExempt = (path: string): boolean => path.startsWith(`/${HEALTH_SERVICE}/`);

/** bearerAuth returns the interceptor that admits calls carrying `Bearer <token>`. */
export function bearerAuth(token: string): ServerInterceptor {
  const expected = digest(`Bearer ${token}`);
  return (method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (isExempt(method.path)) return pass(metadata);
            const given = metadata.get('authorization');
            const value = given.length === 1 && typeof given[0] === 'string' ? given[0] : null;
            if (value !== null && timingSafeEqual(digest(value), expected)) return pass(metadata);
            const trailers = new Metadata();
            trailers.set('presencelb-error-code', 'UNAUTHENTICATED');
            call.sendStatus({
              code: status.UNAUTHENTICATED,
              details: value === null ? 'the call carries no `authorization: Bearer <token>` metadata [UNAUTHENTICATED]' : 'the bearer token is not valid [UNAUTHENTICATED]',
              metadata: trailers,
            });
          },
        }),
    });
}
