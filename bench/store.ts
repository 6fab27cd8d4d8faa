/**
 * bench/store.ts: what storing a flow costs presencelb, CPU of every thread counted (SQLite runs its statements in
 * libuv's thread pool, outside a JavaScript profile). Flows reported whole, as access-log and flow-log modes report
 * every request, from --users users picked at random, are applied to a SQLite file through KnexFlowStore.applyWrites
 * in the batches WriteBehindStore makes at --rate flows/s: one batch per lazy flush, at most MAX_BATCH writes.
 *
 * Three settings side by side, each in a fresh database that first takes --warm flows (the user index is then larger
 * than SQLite's cache, as it is after a few minutes of traffic), in alternating order over --rounds rounds:
 *   shipped   the store as presencelb opens it (SQLITE_PRAGMAS, FLOW_FLUSH_MS, MAX_BATCH, completed streams folded
 *             into spans with the default lifecycle.graceMs and lifecycle.flowSpanMs)
 *   per-row   the same, a row per stream (lifecycle.flowSpanMs: 0; the store up to 27 November 2026, 05:00 UTC)
 *   before    a row per stream, SQLite's default page cache (2 MiB) and checkpoint interval (1,000 pages), batches of
 *             100 ms, at most 2,000 writes (the settings up to 27 November 2026, 03:00 UTC)
 *
 *   npm run bench -- store [--users 10000] [--rate 7000] [--flows 200000] [--warm 200000] [--rounds 2]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.ts';
import type { FlowRecord } from '../src/core/ports.ts';
import type { UserId } from '../src/core/user-id.ts';
import { newFlowId } from '../src/dataplane/flow-id.ts';
import { createKnex } from '../src/store/knex-config.ts';
import { KnexFlowStore } from '../src/store/knex-flow-store.ts';
import { MIGRATOR_CONFIG } from '../src/store/migrations/index.ts';
import type { FlowSpanOptions } from '../src/store/flow-spans.ts';
import type { StoreWrite } from '../src/store/flow-writes.ts';
import { FLOW_FLUSH_MS, MAX_BATCH } from '../src/store/write-behind.ts';
import { inRepetition, progress } from './lib/run.ts';
import { fmt, median, table } from './lib/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'store'),
  options: {
    users: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '7000' },
    flows: { type: 'string', default: '200000' },
    warm: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '2' },
  },
});
const USERS = Number(args.users);
const RATE = Number(args.rate);
const FLOWS = Number(args.flows);
const WARM = Number(args.warm);
const ROUNDS = Number(args.rounds);
for (const [k, v] of Object.entries({ users: USERS, rate: RATE, flows: FLOWS, rounds: ROUNDS })) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
if (!Number.isInteger(WARM) || WARM < 0) throw new Error('--warm must be an integer >= 0');

/** Setting is one way of running the store: pragmas applied after the shipped ones, the batch the rate gives, spans. */
interface Setting {
  readonly name: string;
  readonly pragmas: readonly string[];
  readonly batch: number;
  readonly spans: FlowSpanOptions;
}

const lifecycle = configSchema.shape.lifecycle.parse(undefined);
const SHIPPED_SPANS: FlowSpanOptions = { gapMs: lifecycle.graceMs, spanMs: lifecycle.flowSpanMs };
const NO_SPANS: FlowSpanOptions = { gapMs: 0, spanMs: 0 };

/** batchOf is how many flows a batch holds at RATE when batches go flushMs apart and hold at most max writes. */
const batchOf = (flushMs: number, max: number): number => Math.min(max, Math.max(1, Math.round((RATE * flushMs) / 1000)));

const SETTINGS: readonly Setting[] = [
  { name: 'shipped', pragmas: [], batch: batchOf(FLOW_FLUSH_MS, MAX_BATCH), spans: SHIPPED_SPANS },
  { name: 'per-row', pragmas: [], batch: batchOf(FLOW_FLUSH_MS, MAX_BATCH), spans: NO_SPANS },
  { name: 'before', pragmas: ['PRAGMA cache_size = -2000', 'PRAGMA wal_autocheckpoint = 1000'], batch: batchOf(100, 2000), spans: NO_SPANS },
];

const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-bench-store-'));
const users = Array.from({ length: USERS }, () => randomUUID() as UserId);

/** run stores `flows` whole flows in batches of `batch`, a flow every 1/RATE s of simulated time from t. */
async function run(store: KnexFlowStore, flows: number, batch: number, t: { ms: number }): Promise<void> {
  for (let done = 0; done < flows; ) {
    const ops: StoreWrite[] = [];
    for (let i = 0; i < batch && done < flows; i++, done++) {
      t.ms += 1000 / RATE;
      const startedAt = Math.floor(t.ms);
      const flow: FlowRecord = { id: newFlowId(startedAt), user: users[Math.floor(Math.random() * USERS)]!, appServer: 'app-a', startedAt, endedAt: startedAt + 5, endReason: 'completed' };
      ops.push({ kind: 'insert', flow });
    }
    await store.applyWrites(ops);
  }
}

/** measure returns the CPU µs (every thread) per flow of one setting, in a database of its own. */
async function measure(s: Setting, round: number): Promise<{ usPerFlow: number; wallMs: number; dbMiB: number; rows: number }> {
  const filename = path.join(dir, `${s.name}-${round}.sqlite`);
  const db = createKnex({ client: 'sqlite3', filename } as never);
  await db.migrate.latest(MIGRATOR_CONFIG);
  for (const p of s.pragmas) await db.raw(p);
  const store = new KnexFlowStore(db, silent as never, s.spans);
  const t = { ms: Date.now() };
  await run(store, WARM, s.batch, t);
  const cpu0 = process.cpuUsage();
  const wall0 = Date.now();
  await run(store, FLOWS, s.batch, t);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Date.now() - wall0;
  const [{ n }] = (await db('flows').count({ n: '*' })) as [{ n: number }];
  await store.close();
  const dbMiB = ['', '-wal'].reduce((a, x) => a + (fs.existsSync(filename + x) ? fs.statSync(filename + x).size : 0), 0) / 2 ** 20;
  for (const x of ['', '-wal', '-shm']) fs.rmSync(filename + x, { force: true });
  return { usPerFlow: (cpu.user + cpu.system) / FLOWS, wallMs, dbMiB, rows: Number(n) };
}

const results = new Map<string, number[]>(SETTINGS.map((s) => [s.name, []]));
const rows: string[][] = [];
for (let r = 1; r <= ROUNDS; r++) {
  for (const s of inRepetition(SETTINGS, r)) {
    progress(`round ${r}: ${s.name}, ${WARM} flows to warm up, then ${FLOWS} measured, batches of ${s.batch}`);
    const m = await measure(s, r);
    results.get(s.name)!.push(m.usPerFlow);
    rows.push([String(r), s.name, String(s.batch), fmt(m.usPerFlow, 1), fmt((FLOWS / m.wallMs) * 1000, 0), fmt(m.dbMiB, 1), String(m.rows)]);
  }
}
fs.rmSync(dir, { recursive: true, force: true });

const before = median(results.get('before')!);
const out = [
  `store: ${FLOWS} whole flows from ${USERS} users at ${RATE} flows/s (simulated), after ${WARM} to warm up; CPU of every thread of this process`,
  table([['round', 'setting', 'batch', 'CPU µs/flow', 'flows/s applied', 'db+WAL MiB', 'rows of flows'], ...rows]),
  '',
  table([
    ['setting', 'CPU µs/flow, median', 'x before'],
    ...SETTINGS.map((s) => {
      const m = median(results.get(s.name)!);
      return [s.name, fmt(m, 1), fmt(m / before, 2)];
    }),
  ]),
];
process.stdout.write(`${out.join('\n')}\n`);
