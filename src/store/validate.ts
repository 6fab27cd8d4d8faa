/**
 * Input checks the store applies before touching the database, so that bad input is refused with a message naming
 * the field and never reaches (or half-changes) a row. The enum tables are typed Record<Union, true>: adding a
 * member to a union in ports.ts fails type-checking here until the store accepts it too.
 */
import type { Branch, FlowEndReason, UserState } from '../core/ports.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import { storeFailed } from './store-error.ts';

const USER_STATES: Record<UserState, true> = {
  registering: true,
  publishing: true,
  subscribing: true,
  tracking: true,
  deciding: true,
  reconnecting: true,
  tearing_down: true,
  degraded: true,
};
const END_REASONS: Record<FlowEndReason, true> = { completed: true, stream_error: true, presencelb_restart: true, shutdown: true };
const BRANCHES: Record<Branch, true> = { reconnect: true, teardown: true };

/** MAX_TEXT bounds identifiers (flow ids, server names) so a runaway caller cannot store megabytes per row. */
const MAX_TEXT = 256;

/** Check collects the problems of one call's input; done() throws them all at once as STORE_FAILED. */
export class Check {
  private readonly problems: string[] = [];
  constructor(private readonly op: string) {}

  /** object requires a non-null object (a record); callers check its fields only when it returns true. */
  object(path: string, v: unknown): boolean {
    if (typeof v === 'object' && v !== null) return true;
    this.problems.push(`${path}: must be an object, got ${v === null ? 'null' : typeof v}`);
    return false;
  }

  /** require records message for path unless cond holds (a rule across several fields). */
  require(cond: boolean, path: string, message: string): this {
    if (!cond) this.problems.push(`${path}: ${message}`);
    return this;
  }

  /** user requires a canonical (lower-case) UUID, exactly what parseUserId produces. */
  user(path: string, v: unknown): UserId {
    const r = parseUserId(v, path);
    if (!r.ok) this.problems.push(...r.errors.map((e) => `${path}: ${e.message}`));
    else if (r.value !== v) this.problems.push(`${path}: UUID must be lower-case (canonical form)`);
    return v as UserId;
  }

  /** id requires a non-empty string of at most MAX_TEXT characters. */
  id(path: string, v: unknown): this {
    if (typeof v !== 'string' || v.length === 0) this.problems.push(`${path}: must be a non-empty string`);
    else if (v.length > MAX_TEXT) this.problems.push(`${path}: longer than ${MAX_TEXT} characters`);
    return this;
  }

  /** optionalId is id() or null. */
  optionalId(path: string, v: unknown): this {
    return v === null ? this : this.id(path, v);
  }

  /** text requires a string (possibly empty); used for free text such as a decision's reason or presence JSON. */
  text(path: string, v: unknown, nullable = false): this {
    if (!(typeof v === 'string' || (nullable && v === null))) this.problems.push(`${path}: must be a string${nullable ? ' or null' : ''}`);
    return this;
  }

  /** millis requires a time in milliseconds: a non-negative safe integer (bigint columns hold it exactly). */
  millis(path: string, v: unknown, nullable = false): this {
    if (nullable && v === null) return this;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.problems.push(`${path}: must be a non-negative integer number of milliseconds, got ${String(v)}`);
    }
    return this;
  }

  /** state requires a UserState. */
  state(path: string, v: unknown): this {
    return this.oneOf(path, v, USER_STATES);
  }
  /** endReason requires a FlowEndReason (or null when nullable). */
  endReason(path: string, v: unknown, nullable = false): this {
    return nullable && v === null ? this : this.oneOf(path, v, END_REASONS);
  }
  /** branch requires a Branch. */
  branch(path: string, v: unknown): this {
    return this.oneOf(path, v, BRANCHES);
  }

  /** done throws STORE_FAILED listing every problem found, or returns if there were none. */
  done(): void {
    if (this.problems.length > 0) throw storeFailed(this.op, `invalid input: ${this.problems.join('; ')}`);
  }

  private oneOf(path: string, v: unknown, allowed: Record<string, true>): this {
    if (typeof v !== 'string' || !Object.hasOwn(allowed, v)) {
      this.problems.push(`${path}: must be one of ${Object.keys(allowed).join(', ')}, got ${JSON.stringify(v)}`);
    }
    return this;
  }
}
