/**
 * Validation of the admin API's requests: each parser turns a received message into a typed query, or returns every
 * problem found with the field it concerns (errors as values; status.ts picks the gRPC code). Page tokens are opaque
 * to clients: base64url JSON naming the listing, its filter and the cursor (the last row of the previous page).
 */
import type { UserState } from '../core/ports.ts';
import { fail, ok, type FieldError, type Result } from '../core/result.ts';
import { parseUserId, type UserId } from '../core/user-id.ts';
import type { FlowPageQuery, UserPageQuery } from '../store/index.ts';
import type { WireUserState } from './wire.ts';

/** DEFAULT_PAGE_SIZE is used when a request's page_size is 0; MAX_PAGE_SIZE is the largest accepted. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** MAX_TOKEN_CHARS bounds a page token before it is decoded. */
const MAX_TOKEN_CHARS = 512;

const STATES: Readonly<Record<WireUserState, UserState | null>> = {
  USER_STATE_UNSPECIFIED: null,
  USER_STATE_REGISTERING: 'registering',
  USER_STATE_PUBLISHING: 'publishing',
  USER_STATE_SUBSCRIBING: 'subscribing',
  USER_STATE_TRACKING: 'tracking',
  USER_STATE_DECIDING: 'deciding',
  USER_STATE_RECONNECTING: 'reconnecting',
  USER_STATE_TEARING_DOWN: 'tearing_down',
  USER_STATE_DEGRADED: 'degraded',
};

const bad = (path: string, message: string): FieldError => ({ code: 'ARGUMENT_INVALID', path, message });

/** parseUuid validates the uuid field of a request (IDENTITY_MISSING or IDENTITY_MALFORMED, path 'uuid'). */
export function parseUuid(raw: unknown, path = 'uuid'): Result<UserId> {
  return parseUserId(raw, path);
}

/** pageSize accepts 0 (meaning DEFAULT_PAGE_SIZE) to MAX_PAGE_SIZE; anything else is an error on page_size. */
function pageSize(raw: unknown, errors: FieldError[]): number {
  const n = typeof raw === 'number' ? raw : Number(raw ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE_SIZE) {
    errors.push(bad('page_size', `must be 0 (default ${DEFAULT_PAGE_SIZE}) to ${MAX_PAGE_SIZE}, got ${String(raw)}`));
    return DEFAULT_PAGE_SIZE;
  }
  return n === 0 ? DEFAULT_PAGE_SIZE : n;
}

/** PageToken is what a token carries: which listing, its filter, and the cursor. */
type PageToken =
  | { readonly k: 'users'; readonly s: UserState | null; readonly c: number; readonly u: string }
  | { readonly k: 'flows'; readonly u: string; readonly t: number; readonly i: string };

/** encodePageToken renders a token as base64url JSON. */
export function encodePageToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodePageToken(raw: unknown, errors: FieldError[]): PageToken | null {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string' || raw.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(raw)) {
    errors.push(bad('page_token', 'not a page token returned by this API'));
    return null;
  }
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (v && v.k === 'users' && Number.isSafeInteger(v.c) && typeof v.u === 'string' && (v.s === null || typeof v.s === 'string')) return v as PageToken;
    if (v && v.k === 'flows' && Number.isSafeInteger(v.t) && typeof v.u === 'string' && typeof v.i === 'string') return v as PageToken;
  } catch {
    /* reported below */
  }
  errors.push(bad('page_token', 'not a page token returned by this API'));
  return null;
}

/** parseListUsers validates ListUsersRequest {page_size, page_token, state}. */
export function parseListUsers(req: { page_size?: unknown; page_token?: unknown; state?: unknown }): Result<UserPageQuery> {
  const errors: FieldError[] = [];
  const limit = pageSize(req.page_size, errors);
  const stateName = (req.state ?? 'USER_STATE_UNSPECIFIED') as string;
  const state = Object.hasOwn(STATES, stateName) ? STATES[stateName as WireUserState] : undefined;
  if (state === undefined) errors.push(bad('state', `unknown user state ${JSON.stringify(stateName)}`));
  const token = decodePageToken(req.page_token, errors);
  let after: UserPageQuery['after'] = null;
  if (token) {
    const user = parseUserId(token.u);
    if (token.k !== 'users' || !user.ok) errors.push(bad('page_token', 'not a page token of ListUsers'));
    else if (token.s !== (state ?? null)) errors.push(bad('page_token', 'was issued for another state filter: give the same state as the first page'));
    else after = { createdAt: token.c, user: user.value };
  }
  return errors.length ? fail(...errors) : ok({ limit, state: state ?? null, after });
}

/** nextUsersToken returns the token of the page after `page` (empty when the page was not full: the last page). */
export function nextUsersToken(q: UserPageQuery, page: readonly { user: string; createdAt: number }[]): string {
  const last = page.at(-1);
  return last && page.length === q.limit ? encodePageToken({ k: 'users', s: q.state, c: last.createdAt, u: last.user }) : '';
}

/** FlowsQuery is a validated ListFlowsRequest. */
export interface FlowsQuery {
  readonly user: UserId;
  readonly page: FlowPageQuery;
}

/** parseListFlows validates ListFlowsRequest {uuid, page_size, page_token}. */
export function parseListFlows(req: { uuid?: unknown; page_size?: unknown; page_token?: unknown }): Result<FlowsQuery> {
  const errors: FieldError[] = [];
  const user = parseUuid(req.uuid);
  if (!user.ok) errors.push(...user.errors);
  const limit = pageSize(req.page_size, errors);
  const token = decodePageToken(req.page_token, errors);
  let before: FlowPageQuery['before'] = null;
  if (token) {
    if (token.k !== 'flows') errors.push(bad('page_token', 'not a page token of ListFlows'));
    else if (user.ok && token.u !== user.value) errors.push(bad('page_token', 'was issued for another user'));
    else before = { startedAt: token.t, id: token.i };
  }
  return errors.length || !user.ok ? fail(...errors) : ok({ user: user.value, page: { limit, before } });
}

/** nextFlowsToken returns the token of the page after `page` (empty when the page was not full: the last page). */
export function nextFlowsToken(q: FlowsQuery, page: readonly { id: string; startedAt: number }[]): string {
  const last = page.at(-1);
  return last && page.length === q.page.limit ? encodePageToken({ k: 'flows', u: q.user, t: last.startedAt, i: last.id }) : '';
}
