/**
 * The catalogue of presencelb's stable error codes. Every coded error the system reports (log lines, ext_proc
 * immediate responses, admin API details, xDS NACK records) uses one of these codes; a test checks that the
 * catalogue is well-formed. gRPC and HTTP status codes are chosen only at the edges, from these codes.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'Configuration value is invalid',
  IDENTITY_MISSING: 'Request carries no user identity',
  IDENTITY_MALFORMED: 'User identity is not a canonical UUID',
  IDENTITY_AMBIGUOUS: 'Request carries more than one user identity',
  PRESENCE_UNAVAILABLE: 'Presence server cannot be reached',
  PRESENCE_REJECTED: 'Presence server rejected a request',
  PRESENCE_TIMEOUT: 'Presence server did not answer in time',
  PIDF_INVALID: 'Presence document does not parse as PIDF',
  NOTIFY_UNKNOWN_PRESENTITY: 'NOTIFY concerns a user presencelb does not track',
  STORE_FAILED: 'Database operation failed',
  SNAPSHOT_INCONSISTENT: 'xDS snapshot references a resource it does not contain',
  XDS_NACK: 'Envoy rejected an xDS update',
  ILLEGAL_TRANSITION: 'State machine transition is not allowed',
  UNKNOWN_APP_SERVER: 'Upstream address does not belong to a configured application server',
  ARGUMENT_INVALID: 'Admin API request argument is invalid',
  USER_NOT_FOUND: 'User is not tracked by presencelb',
  UNAUTHENTICATED: 'Admin API call carries no valid bearer token',
  FLOW_LOG_MALFORMED: 'Flow log line is not an entry in the flow log format',
  FLOW_LOG_UNREADABLE: 'Flow log file cannot be read or rotated',
  FLOW_LOG_LATE: 'Envoy writes its flow log less often than decisions allow',
} as const;

/** ErrorCode is one key of the catalogue. */
export type ErrorCode = keyof typeof ErrorCodes;

/** PlbError is the one exception type presencelb throws; its code is stable, its message is for humans. */
export class PlbError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code], options);
    this.name = 'PlbError';
    this.code = code;
  }
}

/** isPlbError narrows an unknown thrown value, optionally to one code. */
export function isPlbError(e: unknown, code?: ErrorCode): e is PlbError {
  return e instanceof PlbError && (code === undefined || e.code === code);
}
