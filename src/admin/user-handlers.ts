/**
 * The admin API's read handlers about users: ListUsers, GetUser, ListFlows. Each validates its request, reads, and
 * returns the response or the errors (values; the service maps them to statuses). Store failures are thrown
 * PlbError(STORE_FAILED) and become UNAVAILABLE at the edge.
 */
import { fail, ok, type Result } from '../core/result.ts';
import type { UserRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import type { AdminBackend, LiveSession } from './admin-backend.ts';
import { nextFlowsToken, nextUsersToken, parseListFlows, parseListUsers, parseUuid } from './requests.ts';
import { decisionToWire, flowToWire, pinToWire, userToWire, type WireDecision, type WireFlow, type WireRouteUpdate, type WireUser } from './wire.ts';

/** GET_USER_FLOWS is how many of the most recent flows GetUser returns. */
export const GET_USER_FLOWS = 20;

/** ListUsersResponse is presencelb.admin.v1.ListUsersResponse. */
export interface ListUsersResponse {
  readonly users: WireUser[];
  readonly next_page_token: string;
}

/** listUsers returns one page of stored users (state as stored), oldest first. */
export async function listUsers(b: AdminBackend, req: { page_size?: unknown; page_token?: unknown; state?: unknown }): Promise<Result<ListUsersResponse>> {
  const q = parseListUsers(req);
  if (!q.ok) return fail(...q.errors);
  const page = await b.store.listUsersPage(q.value);
  return ok({ users: page.map((u) => userToWire(u)), next_page_token: nextUsersToken(q.value, page) });
}

/** GetUserResponse is presencelb.admin.v1.GetUserResponse. */
export interface GetUserResponse {
  readonly user: WireUser;
  readonly flows: WireFlow[];
  readonly presence_json: string;
  readonly subscribed: boolean;
  readonly registered: boolean;
  readonly published: boolean;
  readonly route_update: WireRouteUpdate | null;
  readonly last_decision: WireDecision | null;
}

/**
 * getUser returns what presencelb holds about a user: the live state when the lifecycle tracks the user (else the
 * stored one), the most recent flows, presence, what is held at the presence server, the route update in force and
 * the last decision. NOT_FOUND when neither the lifecycle nor the store knows the user.
 */
export async function getUser(b: AdminBackend, req: { uuid?: unknown }): Promise<Result<GetUserResponse>> {
  const u = parseUuid(req.uuid);
  if (!u.ok) return fail(...u.errors);
  const user = u.value;
  const [stored, flows, decision, pin] = await Promise.all([
    b.store.getUser(user),
    b.store.listFlowsPage(user, { limit: GET_USER_FLOWS, before: null }),
    b.store.lastDecision(user),
    b.store.getPin(user),
  ]);
  const live = b.lifecycle.session(user);
  const rec = stored ?? (live ? fromSession(user, live) : null);
  if (!rec) return fail({ code: 'USER_NOT_FOUND', path: 'uuid', message: `presencelb tracks no user ${user}` });
  const held = b.held(user);
  return ok({
    user: userToWire(rec, live?.state),
    flows: flows.map(flowToWire),
    presence_json: rec.presence ?? live?.fingerprint ?? '',
    ...held,
    route_update: pin ? pinToWire(pin) : null,
    last_decision: decision ? decisionToWire(decision) : null,
  });
}

/** ListFlowsResponse is presencelb.admin.v1.ListFlowsResponse. */
export interface ListFlowsResponse {
  readonly flows: WireFlow[];
  readonly next_page_token: string;
}

/** listFlows returns one page of a user's flows, newest first (an unknown user has none: an empty page). */
export async function listFlows(b: AdminBackend, req: { uuid?: unknown; page_size?: unknown; page_token?: unknown }): Promise<Result<ListFlowsResponse>> {
  const q = parseListFlows(req);
  if (!q.ok) return fail(...q.errors);
  const page = await b.store.listFlowsPage(q.value.user, q.value.page);
  return ok({ flows: page.map(flowToWire), next_page_token: nextFlowsToken(q.value, page) });
}

/** fromSession describes a user the lifecycle tracks whose row is not stored yet (its first steps are running). */
function fromSession(user: UserId, s: LiveSession): UserRecord {
  const state = s.state === 'gone' ? 'tearing_down' : s.state;
  return { user, state, appServer: s.appServer, createdAt: s.createdAt, updatedAt: s.createdAt, presence: s.fingerprint };
}
