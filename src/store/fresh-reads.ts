/**
 * freshReads gives the operator's surface read access to the store behind a WriteBehindStore: every query first
 * waits until the writes queued before it are applied, so an answer never misses a flow the data path
 * already reported.
 */
import type { KnexFlowStore } from './knex-flow-store.ts';
import type { StoreReads } from './queries.ts';
import type { WriteBehindStore } from './write-behind.ts';

/** freshReads returns StoreReads over store.inner, each query run after store.flush(). */
export function freshReads(store: WriteBehindStore<KnexFlowStore>): StoreReads {
  const db = store.inner;
  const fresh = async <T>(q: () => Promise<T>): Promise<T> => {
    await store.flush();
    return q();
  };
  return {
    getUser: (u) => fresh(() => db.getUser(u)),
    listPins: () => fresh(() => db.listPins()),
    listUsersPage: (q) => fresh(() => db.listUsersPage(q)),
    listFlowsPage: (u, q) => fresh(() => db.listFlowsPage(u, q)),
    lastDecision: (u) => fresh(() => db.lastDecision(u)),
    getPin: (u) => fresh(() => db.getPin(u)),
  };
}
