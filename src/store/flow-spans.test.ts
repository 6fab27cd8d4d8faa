/**
 * FlowSpans: which completed streams share a row, and the property that makes it safe: the identifying step decides
 * the same from the spans as from the streams they stand for, whatever the instant.
 */
import test from 'ava';
import { decide } from '../core/decision.ts';
import type { FlowRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { FlowSpans, type Fold } from './flow-spans.ts';
import { flowToRow, rowToFlow, type FlowRow } from './rows.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const V = '7d1e0c9a-2b4f-4e8a-9c3d-5f6a7b8c9d0e' as UserId;
let n = 0;
const stream = (startedAt: number, endedAt: number | null, over: Partial<FlowRecord> = {}): FlowRow =>
  flowToRow({ id: `f${++n}`, user: U, appServer: 'app-a', startedAt, endedAt, endReason: endedAt === null ? null : 'completed', ...over });

/** written folds rows and applies what the fold writes as the store does: a row written again replaces it (upsert by id). */
function written(fold: Fold, rows: readonly FlowRow[], into = new Map<string, FlowRow>()): Map<string, FlowRow> {
  for (const r of rows) fold.add(r);
  const out = fold.rows();
  if (new Set(out.map((r) => r.id)).size !== out.length) throw new Error('a fold wrote one id twice in one statement');
  for (const w of out) into.set(w.id, w);
  return into;
}

test('completed streams of a user to one server, pauses within gapMs, become one span row', (t) => {
  n = 0;
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 60000 });
  const fold = spans.fold();
  const rows = written(fold, [stream(1000, 1010), stream(3000, 3020), stream(7000, 7500)]);
  t.is(rows.size, 1);
  const [row] = rows.values();
  t.like(row, { id: 'f1', started_at: 1000, last_started_at: 7000, ended_at: 7500, end_reason: 'completed', streams: 3 });
  t.like(rowToFlow(row!), { id: 'f1', startedAt: 1000, lastStartedAt: 7000, endedAt: 7500, streams: 3 });
});

test('a pause longer than gapMs, another server, another user or spanMs reached starts a new row', (t) => {
  n = 0;
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 20000 });
  const fold = spans.fold();
  const rows = written(fold, [
    stream(1000, 1010),
    stream(6011, 6020), // 5,001 ms after the end: a new span
    stream(6100, 6200, { appServer: 'app-b' }),
    stream(6100, 6200, { user: V }),
    stream(9000, 9100), // joins the second span
    stream(25000, 26100), // the second span would last 20,089 ms
  ]);
  t.deepEqual(
    [...rows.values()].sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1))).map((r) => [r.id, r.user_id === V ? 'V' : 'U', r.app_server, r.started_at, r.ended_at, r.streams]),
    [
      ['f1', 'U', 'app-a', 1000, 1010, 1],
      ['f2', 'U', 'app-a', 6011, 9100, 2],
      ['f3', 'U', 'app-b', 6100, 6200, 1],
      ['f4', 'V', 'app-a', 6100, 6200, 1],
      ['f6', 'U', 'app-a', 25000, 26100, 1],
    ],
  );
});

test('open streams and streams that did not end completed keep their own rows, and do not end a span', (t) => {
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 60000 });
  const fold = spans.fold();
  const rows = written(fold, [stream(1000, 1010), stream(1100, null), stream(1200, 1300, { endReason: 'stream_error' }), stream(1400, 1500)]);
  t.deepEqual(
    [...rows.values()].sort((a, b) => Number(a.started_at) - Number(b.started_at)).map((r) => [r.started_at, r.ended_at, r.end_reason, r.streams]),
    [
      [1000, 1500, 'completed', 2],
      [1100, null, null, 1],
      [1200, 1300, 'stream_error', 1],
    ],
  );
});

test('spanMs 0 keeps a row per stream', (t) => {
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 0 });
  t.false(spans.enabled);
  t.is(written(spans.fold(), [stream(1000, 1010), stream(1020, 1030)]).size, 2);
});

test('a committed fold carries its spans into the next batch; an uncommitted one leaves nothing behind', (t) => {
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 60000 });
  const failed = spans.fold();
  written(failed, [stream(1000, 1010)]); // its transaction failed: never committed
  t.is(spans.held, 0);
  const retried = spans.fold();
  const first = written(retried, [stream(1000, 1010), stream(1100, 1200)]);
  retried.commit();
  t.deepEqual([...first.values()].map((r) => r.streams), [2]);
  t.is(spans.held, 1);
  const next = spans.fold();
  const rows = written(next, [stream(2000, 2100)]);
  t.deepEqual([...rows.values()].map((r) => [r.id, r.started_at, r.ended_at, r.streams]), [[[...first.keys()][0], 1000, 2100, 3]]);
});

test('a purge ends the user\'s spans: streams after it start a new row', (t) => {
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 60000 });
  const fold = spans.fold();
  const before = written(fold, [stream(1000, 1010)]);
  fold.purged(U);
  const after = written(fold, [stream(1100, 1200)]);
  t.not([...before.keys()][0], [...after.keys()][0]);
  fold.commit();
  const next = spans.fold();
  fold.purged(V); // another user's purge in a later batch changes nothing for U
  const rows = written(next, [stream(1300, 1400)]);
  t.deepEqual([...rows.values()].map((r) => [r.id, r.streams]), [[[...after.keys()][0], 2]]);
  const purging = spans.fold();
  purging.purged(U);
  purging.commit();
  t.is(spans.held, 0);
});

test('spans no stream can join any more are dropped from memory', (t) => {
  const spans = new FlowSpans({ gapMs: 1000, spanMs: 60000 });
  const a = spans.fold();
  written(a, [stream(1000, 1010), stream(1000, 1010, { user: V })]);
  a.commit();
  t.is(spans.held, 2);
  const b = spans.fold();
  written(b, [stream(100000, 100010)]);
  b.commit();
  t.is(spans.held, 1);
});

test('decide reads spans as it reads their streams, at every instant (random streams, 200 users)', (t) => {
  const graceMs = 3000;
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let u = 0; u < 200; u++) {
    const spans = new FlowSpans({ gapMs: graceMs, spanMs: 20000 });
    const streams: FlowRecord[] = [];
    let at = 0;
    for (let i = 0; i < 30; i++) {
      at += Math.floor(rnd() * 6000);
      const len = Math.floor(rnd() * 2000);
      const open = rnd() < 0.03;
      const server = rnd() < 0.8 ? 'app-a' : 'app-b';
      streams.push({ id: `s${u}-${i}`, user: U, appServer: server, startedAt: at, endedAt: open ? null : at + len, endReason: open ? null : rnd() < 0.05 ? 'stream_error' : 'completed' });
    }
    // Entries reach presencelb in order of completion, in batches of a second.
    const byEnd = [...streams].sort((a, b) => (a.endedAt ?? Infinity) - (b.endedAt ?? Infinity));
    const rows = new Map<string, FlowRow>();
    for (let from = 0; from < byEnd.length; ) {
      const to = byEnd.findIndex((s, k) => k > from && (s.endedAt ?? Infinity) >= (byEnd[from]!.endedAt ?? Infinity) + 1000);
      const fold = spans.fold();
      written(fold, byEnd.slice(from, to < 0 ? undefined : to).map(flowToRow), rows);
      fold.commit();
      from = to < 0 ? byEnd.length : to;
    }
    const stored = [...rows.values()].map(rowToFlow);
    t.true(stored.length <= streams.length);
    t.is(stored.reduce((s, f) => s + (f.streams ?? 1), 0), streams.length, 'every stream is counted once');
    for (let q = -1000; q < at + 5000; q += 97) {
      const a = decide(streams, q, graceMs);
      const b = decide(stored, q, graceMs);
      if (a.branch !== b.branch) t.fail(`user ${u}, instant ${q}: streams say ${a.branch}, spans say ${b.branch}`);
    }
  }
  t.pass();
});

test('a stream that started before its user\'s span does not join it, so a stored span\'s start never moves', (t) => {
  n = 0;
  const spans = new FlowSpans({ gapMs: 5000, spanMs: 60000 });
  const rows = written(spans.fold(), [stream(85000, 90000), stream(70000, 100000), stream(101000, 102000)]);
  t.deepEqual(
    [...rows.values()].sort((a, b) => Number(a.started_at) - Number(b.started_at)).map((r) => [r.id, r.started_at, r.last_started_at, r.ended_at, r.streams]),
    [
      ['f2', 70000, 101000, 102000, 2],
      ['f1', 85000, 85000, 90000, 1],
    ],
  );
});
