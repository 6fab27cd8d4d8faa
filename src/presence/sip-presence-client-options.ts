/** Options of SipPresenceClient: given once, validated once, then frozen. */
import type { Clock, Logger, PresenceSink } from '../core/ports.ts';
import { PlbError } from '../core/errors.ts';
import { fail, formatErrors, ok, type FieldError, type Result } from '../core/result.ts';
import { parsePresenceUrl, type PresenceEndpoint } from './presence-url.ts';

/** SipAuthOptions name the digest credentials: the password is read once from passwordFile and never logged. */
export interface SipAuthOptions {
  readonly username: string;
  readonly passwordFile: string;
}

/** SipPresenceClientOptions configures presencelb's SIP user agent towards the presence server. */
export interface SipPresenceClientOptions {
  /** url is the presence server's endpoint: ws://, wss://, tcp:// or tls:// (see presence-url.ts). */
  readonly url?: string;
  /** wsUrl is url's former name, still accepted; url wins when both are given. */
  readonly wsUrl?: string;
  /** caFile is a PEM file of the CA certificates trusted for wss:// and tls:// (default: Node's bundled CAs). */
  readonly caFile?: string;
  /** auth answers 401/407 digest challenges (MD5); without it presencelb cannot authenticate. */
  readonly auth?: SipAuthOptions;
  /** domain is the SIP domain of every URI presencelb writes (its own, the users' presentities, its bindings). */
  readonly domain: string;
  readonly registerExpiresSec: number;
  readonly publishExpiresSec: number;
  readonly subscribeExpiresSec: number;
  /** opTimeoutMs bounds every operation, connecting included (default 5000). */
  readonly opTimeoutMs?: number;
  /** reconnectDelayMs is the first delay before reconnecting after the connection dropped; it doubles up to 30 s. */
  readonly reconnectDelayMs?: number;
  /** healDelaysMs overrides when lost state is re-established (healer.ts HEAL_DELAYS_MS); for tests. */
  readonly healDelaysMs?: readonly number[];
  readonly sink: PresenceSink;
  readonly clock: Clock;
  readonly log: Logger;
}

/** ResolvedSipPresenceClientOptions are validated options with every default filled in. */
export interface ResolvedSipPresenceClientOptions {
  readonly endpoint: PresenceEndpoint;
  readonly caFile: string | null;
  readonly auth: SipAuthOptions | null;
  readonly domain: string;
  readonly registerExpiresSec: number;
  readonly publishExpiresSec: number;
  readonly subscribeExpiresSec: number;
  readonly opTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly healDelaysMs: readonly number[] | null;
  readonly sink: PresenceSink;
  readonly clock: Clock;
  readonly log: Logger;
}

/** resolveSipPresenceClientOptions validates options and fills in defaults; the result is frozen. */
export function resolveSipPresenceClientOptions(o: SipPresenceClientOptions): Result<ResolvedSipPresenceClientOptions> {
  const errors: FieldError[] = [];
  const bad = (path: string, message: string) => errors.push({ code: 'CONFIG_INVALID', path, message });
  const endpoint = parsePresenceUrl(o.url ?? o.wsUrl ?? '');
  if (!endpoint.ok) errors.push(...endpoint.errors);
  if (o.caFile !== undefined && (typeof o.caFile !== 'string' || o.caFile === '')) bad('caFile', 'must be a file name');
  if (o.auth !== undefined) {
    if (typeof o.auth.username !== 'string' || !/^[^\s"\\]+$/.test(o.auth.username)) bad('auth.username', 'must be a non-empty user name without spaces or quotes');
    if (typeof o.auth.passwordFile !== 'string' || o.auth.passwordFile === '') bad('auth.passwordFile', 'must be a file name');
  }
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
  if (o.healDelaysMs !== undefined && (o.healDelaysMs.length === 0 || !o.healDelaysMs.every((d) => Number.isInteger(d) && d >= 0))) {
    bad('healDelaysMs', 'must be a non-empty list of non-negative integers');
  }
  if (!o.sink || typeof o.sink.onNotify !== 'function') bad('sink', 'must have onNotify()');
  if (!o.clock || typeof o.clock.now !== 'function' || typeof o.clock.setTimer !== 'function') bad('clock', 'must be a Clock');
  if (!o.log || typeof o.log.child !== 'function') bad('log', 'must be a Logger');
  if (errors.length > 0 || !endpoint.ok) return fail(...errors);
  return ok(Object.freeze({
    endpoint: endpoint.value,
    caFile: o.caFile ?? null,
    auth: o.auth ? Object.freeze({ username: o.auth.username, passwordFile: o.auth.passwordFile }) : null,
    domain: o.domain,
    registerExpiresSec: o.registerExpiresSec,
    publishExpiresSec: o.publishExpiresSec,
    subscribeExpiresSec: o.subscribeExpiresSec,
    opTimeoutMs,
    reconnectDelayMs,
    healDelaysMs: o.healDelaysMs ? Object.freeze([...o.healDelaysMs]) : null,
    sink: o.sink,
    clock: o.clock,
    log: o.log,
  }));
}

/** requireSipPresenceClientOptions is resolveSipPresenceClientOptions that throws PlbError(CONFIG_INVALID). */
export function requireSipPresenceClientOptions(o: SipPresenceClientOptions): ResolvedSipPresenceClientOptions {
  const r = resolveSipPresenceClientOptions(o);
  if (!r.ok) throw new PlbError('CONFIG_INVALID', `invalid SipPresenceClient options:\n${formatErrors(r.errors)}`);
  return r.value;
}
