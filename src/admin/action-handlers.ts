/**
 * The admin API's actions: PurgeUser and ReconnectUser run the claim's two branches for one user now, through the
 * lifecycle (in the user's queue, after what is already queued for the user), exactly as a NOTIFY would.
 */
import { fail, ok, type Result } from '../core/result.ts';
import type { AdminBackend } from './admin-backend.ts';
import { parseUuid } from './requests.ts';
import { pinToWire, type WireRouteUpdate } from './wire.ts';

/** PurgeUserResponse is presencelb.admin.v1.PurgeUserResponse: rows removed per table. */
export interface PurgeUserResponse {
  readonly rows: Readonly<Record<string, number>>;
}

/** purgeUser runs the teardown branch (unsubscribe, unpublish, unregister, purge); NOT_FOUND for an untracked user. */
export async function purgeUser(b: AdminBackend, req: { uuid?: unknown }): Promise<Result<PurgeUserResponse>> {
  const u = parseUuid(req.uuid);
  if (!u.ok) return fail(...u.errors);
  const r = await b.lifecycle.purgeNow(u.value);
  return r.ok ? ok({ rows: { ...r.value } }) : fail(...r.errors);
}

/** ReconnectUserResponse is presencelb.admin.v1.ReconnectUserResponse. */
export interface ReconnectUserResponse {
  readonly route_update: WireRouteUpdate;
}

/** reconnectUser runs the reconnect branch (MESSAGE carrying the UUID, route update) and returns the route update. */
export async function reconnectUser(b: AdminBackend, req: { uuid?: unknown }): Promise<Result<ReconnectUserResponse>> {
  const u = parseUuid(req.uuid);
  if (!u.ok) return fail(...u.errors);
  const r = await b.lifecycle.reconnectNow(u.value);
  return r.ok ? ok({ route_update: pinToWire(r.value) }) : fail(...r.errors);
}
