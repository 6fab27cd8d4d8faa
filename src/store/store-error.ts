/**
 * How the store reports failure: every rejection is a PlbError(STORE_FAILED) whose message names the store
 * operation ("store.purgeUser: ...") and whose cause is the driver's error, kept for logs.
 */
import { PlbError, isPlbError } from '../core/errors.ts';

/** storeFailed builds the STORE_FAILED error for operation op; detail is appended after the operation name. */
export function storeFailed(op: string, detail: string, cause?: unknown): PlbError {
  return new PlbError('STORE_FAILED', `store.${op}: ${detail}`, cause === undefined ? undefined : { cause });
}

/**
 * guard runs fn and rethrows anything it throws as STORE_FAILED naming op. A PlbError thrown on purpose inside fn
 * (input validation) passes through unchanged so its message stays precise.
 */
export async function guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isPlbError(e, 'STORE_FAILED')) throw e;
    throw storeFailed(op, describe(e), e);
  }
}

/** describe renders a driver error for a human: its code (ECONNREFUSED, SQLITE_BUSY, 23505...) and message. */
function describe(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return describe(e.errors[0]);
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const msg = e.message || e.name;
    return typeof code === 'string' && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(e);
}
