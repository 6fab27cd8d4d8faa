/**
 * The one place presencelb's error codes become gRPC status codes (the API edge). Every ErrorCode has exactly one
 * status (the table is a total Record, so a new code fails type-checking until it is mapped). A failed call carries
 * the errors in its message, one `field: message [CODE]` per error, and in its trailers: `presencelb-error-code`
 * (the first error's code) and `presencelb-field` (the first error's field, when it names one).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isPlbError, type ErrorCode } from '../core/errors.ts';
import { formatErrors, type FieldError } from '../core/result.ts';

/** GRPC_STATUS_OF maps every error code to the gRPC status the admin API answers with. */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCode, status>> = Object.freeze({
  CONFIG_INVALID: status.FAILED_PRECONDITION,
  IDENTITY_MISSING: status.INVALID_ARGUMENT,
  IDENTITY_MALFORMED: status.INVALID_ARGUMENT,
  IDENTITY_AMBIGUOUS: status.INVALID_ARGUMENT,
  ARGUMENT_INVALID: status.INVALID_ARGUMENT,
  PIDF_INVALID: status.INVALID_ARGUMENT,
  USER_NOT_FOUND: status.NOT_FOUND,
  NOTIFY_UNKNOWN_PRESENTITY: status.NOT_FOUND,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PRESENCE_UNAVAILABLE: status.UNAVAILABLE,
  PRESENCE_TIMEOUT: status.DEADLINE_EXCEEDED,
  PRESENCE_REJECTED: status.FAILED_PRECONDITION,
  STORE_FAILED: status.UNAVAILABLE,
  SNAPSHOT_INCONSISTENT: status.INTERNAL,
  XDS_NACK: status.FAILED_PRECONDITION,
  ILLEGAL_TRANSITION: status.FAILED_PRECONDITION,
  UNKNOWN_APP_SERVER: status.FAILED_PRECONDITION,
  FLOW_LOG_MALFORMED: status.INVALID_ARGUMENT,
  FLOW_LOG_UNREADABLE: status.UNAVAILABLE,
  FLOW_LOG_LATE: status.FAILED_PRECONDITION,
} satisfies Record<ErrorCode, status>);

/** grpcStatusOf returns the status for a code (INTERNAL for anything not in the catalogue). */
export function grpcStatusOf(code: string): status {
  return Object.hasOwn(GRPC_STATUS_OF, code) ? GRPC_STATUS_OF[code as ErrorCode] : status.INTERNAL;
}

/** CallError is the status a failed call ends with. */
export type CallError = Partial<ServiceError> & { code: status; details: string };

/** toServiceError turns the errors of a failed request (at least one) into the status the call ends with. */
export function toServiceError(errors: readonly FieldError[]): CallError {
  const first = errors[0];
  if (!first) return errorFromThrown(new Error('a request failed without an error'));
  const metadata = new Metadata();
  metadata.set('presencelb-error-code', first.code);
  if (first.path) metadata.set('presencelb-field', first.path);
  return { code: grpcStatusOf(first.code), details: formatErrors(errors), metadata };
}

/** errorFromThrown turns an exception that escaped a handler into a status: PlbErrors keep their code, others are INTERNAL. */
export function errorFromThrown(e: unknown): CallError {
  if (isPlbError(e)) return toServiceError([{ code: e.code, path: '', message: e.message }]);
  const metadata = new Metadata();
  metadata.set('presencelb-error-code', 'INTERNAL');
  return { code: status.INTERNAL, details: `internal error: ${e instanceof Error ? e.message : String(e)}`, metadata };
}
