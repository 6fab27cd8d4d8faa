/**
 * Result is how validation and boundary code report failure without throwing: a value, or every error found,
 * each with the field path it concerns. Adapters turn these into NACK details, gRPC statuses and log lines.
 */
import type { ErrorCode } from './errors.ts';

/** FieldError is one problem found in an input, located by a dotted field path ('' for the input as a whole). */
export interface FieldError {
  readonly code: ErrorCode;
  readonly path: string;
  readonly message: string;
}

/** Result is either a valid value or the list of errors that made it invalid. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly FieldError[] };

/** ok wraps a valid value. */
export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/** fail wraps one or more errors. */
export const fail = <T = never>(...errors: FieldError[]): Result<T> => ({ ok: false, errors });

/** formatErrors renders errors as one human-readable line per error, path first. */
export function formatErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path || '(root)'}: ${e.message} [${e.code}]`).join('\n');
}
