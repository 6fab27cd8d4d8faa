/** Options of SipPresenceClient: given once, validated once, then frozen. */
import type { Clock, Logger, PresenceSink } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { fail, formatErrors, ok, type FieldError, type Result } from '../core/result.ts';

/** SipPresenceClientOptions configures presencelb's SIP user agent towards the presence server. */
export interface SipPresenceClientOptions {
  /** wsUrl is the presence server's SIP-over-WebSocket endpoint, e.g. ws://127.0.0.1:5060. */
  readonly wsUrl: string;
  /** domain is the SIP domain of every URI presencelb writes (its own, the users' presentities, its bindings). */
  readonly domain: string;
  readonly registerExpiresSec: number;
  readonly publishExpiresSec: number;
  readonly subscribeExpiresSec: number;
  /** opTimeoutMs bounds every operation, connecting included (default 5000). */
  readonly opTimeoutMs?: number;
  /** reconnectDelayMs is the first delay before reconnecting after the WebSocket dropped; it doubles up to 30 s. */
  readonly reconnectDelayMs?: number;
  readonly sink: PresenceSink;
  readonly clock: Clock;
  readonly log: Logger;
}

/** ResolvedSipPresenceClientOptions are validated options with every default filled in. */
export type ResolvedSipPresenceClientOptions = Readonly<Required<SipPresenceClientOptions>>;

/** resolveSipPresenceClientOptions validates options and fills in defaults; the result is frozen. */
export function resolveSipPresenceClientOptions(o: SipPresenceClientOptions): Result<ResolvedSipPresenceClientOptions> {
  const errors: FieldError[] = [];
  const bad = (path: string, message: string) => errors.push({ code: 'CONFIG_INVALID', path, message });
  if (typeof o.wsUrl !== 'string' || !/^wss?:\/\/[^/\s]+/.test(o.wsUrl)) bad('wsUrl', 'must be a ws:// or wss:// URL');
  if (typeof o.domain !== 'string' || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(o.domain)) bad('domain', 'must be a host name or address');
  const seconds = (path: 'registerExpiresSec' | 'publishExpiresSec' | 'subscribeExpiresSec') => {
    const v = o[path];
    if (!Number.isInteger(v) || v < 1 || v > 86400) bad(path, 'must be an integer number of seconds in [1, 86400]');
  };
  seconds('registerExpiresSec');
  seconds('publishExpiresSec');
  seconds('subscribeExpiresSec');
  const opTimeoutMs = o.opTimeoutMs ?? 5000;
  if (!Number.isInteger(opTimeoutMs) || opTimeoutMs < 1) bad('opTimeoutMs', 'must be a positive integer');
  const reconnectDelayMs = o.reconnectDelayMs ?? 1000;
  if (!Number.isInteger(reconnectDelayMs) || reconnectDelayMs < 1) bad('reconnectDelayMs', 'must be a positive integer');
  if (!o.sink || typeof o.sink.onNotify !== 'function') bad('sink', 'must have onNotify()');
  if (!o.clock || typeof o.clock.now !== 'function' || typeof o.clock.setTimer !== 'function') bad('clock', 'must be a Clock');
  if (!o.log || typeof o.log.child !== 'function') bad('log', 'must be a Logger');
  if (errors.length > 0) return fail(...errors);
  return ok(Object.freeze({ ...o, opTimeoutMs, reconnectDelayMs }));
}

/** requireSipPresenceClientOptions is resolveSipPresenceClientOptions that throws PlbError(CONFIG_INVALID). */
export function requireSipPresenceClientOptions(o: SipPresenceClientOptions): ResolvedSipPresenceClientOptions {
  const r = resolveSipPresenceClientOptions(o);
  if (!r.ok) throw new PlbError('CONFIG_INVALID', `invalid SipPresenceClient options:\n${formatErrors(r.errors)}`);
  return r.value;
}
