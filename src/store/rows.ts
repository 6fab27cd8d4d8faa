/**
 * The store's tables as rows, and the mapping between rows and the core's records. Column names are snake_case;
 * every table that holds data about a user has a user_id column (purgeUser relies on it). Times are bigint
 * milliseconds; toMillis turns whatever the driver returns (a number from sqlite3, a string from pg when no type
 * parser applies) into a number, refusing values a number cannot hold exactly.
 */
import type { DecisionRecord, FlowEndReason, FlowRecord, PinRecord, UserRecord, UserState, Branch } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';

/** USER_TABLES lists every table holding rows about a user, in the order purgeUser deletes from them. */
export const USER_TABLES = ['pins', 'decisions', 'flows', 'users'] as const;
/** UserTable is one of the tables purgeUser clears. */
export type UserTable = (typeof USER_TABLES)[number];

/** UserRow is a row of users. */
export interface UserRow {
  user_id: string;
  state: string;
  app_server: string | null;
  created_at: number | string;
  updated_at: number | string;
  presence: string | null;
}

/** FlowRow is a row of flows. */
export interface FlowRow {
  id: string;
  user_id: string;
  app_server: string | null;
  started_at: number | string;
  ended_at: number | string | null;
  end_reason: string | null;
  /** streams: how many HTTP streams the row stands for (1, or more for a span: flow-spans.ts); absent: 1. */
  streams?: number | string;
  /** last_started_at: the latest start among the row's streams (null or absent: started_at). */
  last_started_at?: number | string | null;
}

/** DecisionRow is a row of decisions; id is assigned by the database. */
export interface DecisionRow {
  id?: number | string;
  user_id: string;
  decided_at: number | string;
  notify_sent_at: number | string;
  branch: string;
  app_server: string | null;
  reason: string;
}

/** PinRow is a row of pins. */
export interface PinRow {
  user_id: string;
  app_server: string;
  created_at: number | string;
  expires_at: number | string;
}

/** toMillis converts a bigint column value to a number; it throws if the value is not an exactly representable integer. */
export function toMillis(v: number | string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`time value ${String(v)} is not a safe integer`);
  return n;
}

const toMillisOrNull = (v: number | string | null): number | null => (v === null ? null : toMillis(v));

/** userToRow and rowToUser (and the pairs below) map between core records and rows. */
export const userToRow = (r: UserRecord): UserRow => ({
  user_id: r.user,
  state: r.state,
  app_server: r.appServer,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
  presence: r.presence,
});

export const rowToUser = (r: UserRow): UserRecord => ({
  user: r.user_id as UserId,
  state: r.state as UserState,
  appServer: r.app_server,
  createdAt: toMillis(r.created_at),
  updatedAt: toMillis(r.updated_at),
  presence: r.presence,
});

export const flowToRow = (f: FlowRecord): FlowRow => ({
  id: f.id,
  user_id: f.user,
  app_server: f.appServer,
  started_at: f.startedAt,
  ended_at: f.endedAt,
  end_reason: f.endReason,
  streams: f.streams ?? 1,
  last_started_at: f.lastStartedAt ?? f.startedAt,
});

export const rowToFlow = (r: FlowRow): FlowRecord => ({
  id: r.id,
  user: r.user_id as UserId,
  appServer: r.app_server,
  startedAt: toMillis(r.started_at),
  endedAt: toMillisOrNull(r.ended_at),
  endReason: r.end_reason as FlowEndReason | null,
  ...(r.streams !== undefined && Number(r.streams) !== 1 ? { streams: Number(r.streams) } : {}),
  ...(r.last_started_at != null && toMillis(r.last_started_at) !== toMillis(r.started_at) ? { lastStartedAt: toMillis(r.last_started_at) } : {}),
});

export const decisionToRow = (d: DecisionRecord): DecisionRow => ({
  user_id: d.user,
  decided_at: d.decidedAt,
  notify_sent_at: d.notifySentAt,
  branch: d.branch,
  app_server: d.appServer,
  reason: d.reason,
});

export const rowToDecision = (r: DecisionRow): DecisionRecord => ({
  user: r.user_id as UserId,
  decidedAt: toMillis(r.decided_at),
  notifySentAt: toMillis(r.notify_sent_at),
  branch: r.branch as Branch,
  appServer: r.app_server,
  reason: r.reason,
});

export const pinToRow = (p: PinRecord): PinRow => ({
  user_id: p.user,
  app_server: p.appServer,
  created_at: p.createdAt,
  expires_at: p.expiresAt,
});

export const rowToPin = (r: PinRow): PinRecord => ({
  user: r.user_id as UserId,
  appServer: r.app_server,
  createdAt: toMillis(r.created_at),
  expiresAt: toMillis(r.expires_at),
});
