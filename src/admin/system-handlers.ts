/** The admin API's system-wide reads: ListRouteUpdates, ListEnvoys, GetStats. */
import { ok, type Result } from '../core/result.ts';
import type { AdminBackend } from './admin-backend.ts';
import { envoyToWire, pinToWire, type WireEnvoy, type WireRouteUpdate } from './wire.ts';

/** listRouteUpdates lists the route updates in force (stored pins that have not expired), by user. */
export async function listRouteUpdates(b: AdminBackend, now: number): Promise<Result<{ route_updates: WireRouteUpdate[] }>> {
  const pins = await b.store.listPins();
  return ok({ route_updates: pins.filter((p) => p.expiresAt > now).map(pinToWire) });
}

/** listEnvoys lists every Envoy seen since start, with per-type sent, ACKed and NACKed versions. */
export async function listEnvoys(b: AdminBackend): Promise<Result<{ envoys: WireEnvoy[] }>> {
  return ok({ envoys: b.envoys().map(envoyToWire) });
}

/** getStats returns the metrics as named integer values. */
export async function getStats(b: AdminBackend): Promise<Result<{ counters: Record<string, number> }>> {
  const stats = await b.stats();
  return ok({ counters: Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, Math.round(v)])) });
}
