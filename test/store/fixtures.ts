/**
 * Fixtures for the store tests: a capturing logger, record builders with defaults, seeding, and assertions that
 * read the database through a handle independent of the store under test.
 */
import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { DecisionRecord, FlowRecord, Logger, PinRecord, UserRecord } from '../../src/core/ports.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { isPlbError } from '../../src/core/errors.ts';
import type { KnexFlowStore } from '../../src/store/index.ts';

/** LogEntry is one line captured by testLogger. */
export interface LogEntry {
  level: string;
  obj: object;
  msg: string | undefined;
}

/** testLogger is a Logger that keeps every entry (children share the list) for assertions. */
export function testLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg });
    };
  const log = { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

/** T0 is the suite's reference instant: 1.79e12 ms, already far above 2^31. */
export const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
/** uid returns a fresh canonical user id. */
export const uid = (): UserId => randomUUID() as UserId;

/** user, flow, decision and pin build records with defaults; `over` replaces fields. */
export const user = (u: UserId, over: Partial<UserRecord> = {}): UserRecord => ({
  user: u,
  state: 'tracking',
  appServer: 'app-a',
  createdAt: T0,
  updatedAt: T0,
  presence: null,
  ...over,
});
export const flow = (id: string, u: UserId, over: Partial<FlowRecord> = {}): FlowRecord => ({
  id,
  user: u,
  appServer: null,
  startedAt: T0,
  endedAt: null,
  endReason: null,
  ...over,
});
export const decision = (u: UserId, over: Partial<DecisionRecord> = {}): DecisionRecord => ({
  user: u,
  decidedAt: T0 + 10,
  notifySentAt: T0 + 5,
  branch: 'teardown',
  appServer: 'app-a',
  reason: 'no flow in use',
  ...over,
});
export const pin = (u: UserId, over: Partial<PinRecord> = {}): PinRecord => ({
  user: u,
  appServer: 'app-b',
  createdAt: T0,
  expiresAt: T0 + 60000,
  ...over,
});

/** seedUser writes one row about u in every table (two flows, two decisions) and returns the flow ids. */
export async function seedUser(store: KnexFlowStore, u: UserId): Promise<string[]> {
  const ids = [`${u}/1`, `${u}/2`];
  await store.upsertUser(user(u));
  await store.insertFlow(flow(ids[0]!, u, { endedAt: T0 + 100, endReason: 'completed' }));
  await store.insertFlow(flow(ids[1]!, u, { startedAt: T0 + 200 }));
  await store.recordDecision(decision(u));
  await store.recordDecision(decision(u, { branch: 'reconnect', decidedAt: T0 + 20 }));
  await store.savePin(pin(u));
  return ids;
}

/** rowsAbout counts, per table, the rows whose user_id is u, read through the independent admin handle. */
export async function rowsAbout(admin: Knex, tables: readonly string[], u: UserId): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) {
    const [row] = await admin(table).where('user_id', u).count({ n: '*' });
    out[table] = Number(row?.n);
  }
  return out;
}

/** rejectsStoreFailed asserts p rejects with STORE_FAILED whose message contains every fragment; returns it. */
export async function rejectsStoreFailed(t: ExecutionContext, p: Promise<unknown>, ...fragments: string[]): Promise<Error> {
  const e = await t.throwsAsync(p);
  t.true(isPlbError(e, 'STORE_FAILED'), `expected PlbError(STORE_FAILED), got ${String(e)}`);
  for (const f of fragments) t.true(e!.message.includes(f), `message ${JSON.stringify(e?.message)} lacks ${JSON.stringify(f)}`);
  return e!;
}
