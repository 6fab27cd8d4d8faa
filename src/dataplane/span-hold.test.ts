/**
 * SpanHold: which completed flows the data path's thread folds while it holds them, when it releases them, and the
 * property that makes holding safe: the spans it releases, folded again by the lifecycle's index and by the store,
 * give the identifying step the decisions the streams give.
 */
import test from 'ava';
import { decide } from '../core/decision.ts';
import { FlowIndex } from '../core/flow-index.ts';
import type { FlowRecord } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { FlowSpans } from '../store/flow-spans.ts';
import { flowToRow, rowToFlow, type FlowRow } from '../store/rows.ts';
import { SpanHold, type HeldSpan } from './span-hold.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50';
const V = '7d1e0c9a-2b4f-4e8a-9c3d-5f6a7b8c9d0e';

function holding(settings = { gapMs: 5000, spanMs: 60000, holdMs: 2000 }): { hold: SpanHold; out: HeldSpan[] } {
  const out: HeldSpan[] = [];
  return { hold: new SpanHold(settings, (s) => out.push({ ...s })), out };
}

test('completed flows of a user to one server, pauses within gapMs, wait as one span, released after holdMs', (t) => {
  const { hold, out } = holding();
  hold.add('f1', U, 'app-a', 1000, 1010, 0);
  hold.add('f2', U, 'app-a', 3000, 3020, 100);
  hold.add('f3', U, 'app-a', 7000, 7500, 200);
  hold.releaseDue(1999);
  t.deepEqual(out, [], 'nothing before holdMs');
  t.is(hold.users, 1);
  hold.releaseDue(2000);
  t.deepEqual(out, [{ id: 'f1', user: U, appServer: 'app-a', startedAt: 1000, lastStartedAt: 7000, endedAt: 7500, streams: 3 }]);
  t.is(hold.users, 0);
});

test('another server waits beside the span; a pause over gapMs or spanMs reached releases the span and starts one', (t) => {
  const { hold, out } = holding({ gapMs: 5000, spanMs: 20000, holdMs: 2000 });
  hold.add('a1', U, 'app-a', 1000, 1100, 0);
  hold.add('b1', U, 'app-b', 1200, 1300, 0);
  hold.add('a2', U, 'app-a', 9000, 9100, 0); // 7.9 s after a1 ended
  t.deepEqual(out.map((s) => s.id), ['a1'], 'the span it cannot join is released at once');
  hold.add('a3', U, 'app-a', 12000, 30000, 0); // would last 21 s from a2's start
  t.deepEqual(out.map((s) => s.id), ['a1', 'a2']);
  hold.releaseAll();
  t.deepEqual(out.map((s) => [s.id, s.streams]), [['a1', 1], ['a2', 1], ['b1', 1], ['a3', 1]], 'a user\'s spans go in the order they ended');
});

test('a user\'s spans are released in the order they ended, whichever was held first (the lifecycle takes the server of the last)', (t) => {
  const { hold, out } = holding();
  hold.add('a1', U, 'app-a', 100, 900, 0);
  hold.add('b1', U, 'app-b', 200, 300, 0);
  hold.releaseUser(U);
  t.deepEqual(out.map((s) => s.appServer), ['app-b', 'app-a']);
});

test('a flow older than the held span is released at once as it is, and leaves the span waiting', (t) => {
  const { hold, out } = holding();
  hold.add('f2', U, 'app-a', 5000, 6000, 0);
  hold.add('f1', U, 'app-a', 4000, 5500, 0); // started before the span: it cannot join without moving the start
  t.deepEqual(out, [{ id: 'f1', user: U, appServer: 'app-a', startedAt: 4000, lastStartedAt: 4000, endedAt: 5500, streams: 1 }]);
  t.is(hold.users, 1);
});

test('users are released oldest first once due; releaseUser releases one user now, the others wait', (t) => {
  const { hold, out } = holding();
  hold.add('u1', U, 'app-a', 0, 10, 0);
  hold.add('v1', V, 'app-a', 0, 10, 1500);
  hold.add('u2', U, 'app-a', 20, 30, 1600); // joins U's span: U stays due at 2000
  hold.releaseDue(2000);
  t.deepEqual(out.map((s) => [s.id, s.streams]), [['u1', 2]]);
  hold.add('u3', U, 'app-a', 40, 50, 2100);
  hold.releaseUser(U);
  t.deepEqual(out.map((s) => s.id), ['u1', 'u3']);
  hold.releaseUser(U);
  t.is(out.length, 2, 'nothing held twice');
  hold.releaseDue(3499);
  t.is(out.length, 2);
  hold.releaseDue(3500);
  t.deepEqual(out.map((s) => s.id), ['u1', 'u3', 'v1']);
});

test('settings are checked', (t) => {
  const ok = { gapMs: 0, spanMs: 1, holdMs: 1 };
  t.notThrows(() => new SpanHold(ok, () => {}));
  t.throws(() => new SpanHold({ ...ok, holdMs: 0 }, () => {}), { message: /holdMs must be an integer >= 1/ });
  t.throws(() => new SpanHold({ ...ok, spanMs: 0 }, () => {}), { message: /spanMs/ });
  t.throws(() => new SpanHold({ ...ok, gapMs: -1 }, () => {}), { message: /gapMs/ });
  t.throws(() => new SpanHold({ ...ok, gapMs: 1.5 }, () => {}), { message: /gapMs/ });
});

test('held spans, folded again by the index and by the store, decide as the streams do (random streams, 200 users)', (t) => {
  const graceMs = 3000;
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let released = 0;
  let total = 0;
  for (let u = 0; u < 200; u++) {
    const streams: FlowRecord[] = [];
    let at = 0;
    for (let i = 0; i < 40; i++) {
      at += Math.floor(rnd() * 6000);
      streams.push({ id: `s${u}-${i}`, user: U as UserId, appServer: rnd() < 0.8 ? 'app-a' : 'app-b', startedAt: at, endedAt: at + Math.floor(rnd() * 2000), endReason: 'completed' });
    }
    total += streams.length;
    const index = new FlowIndex(10 ** 9, graceMs);
    index.authoritativeFrom(0);
    const spans = new FlowSpans({ gapMs: graceMs, spanMs: 20000 });
    const rows = new Map<string, FlowRow>();
    // Released spans reach the index as the lifecycle hands them over, and the store in batches.
    let batch: FlowRow[] = [];
    const storeBatch = () => {
      const fold = spans.fold();
      for (const r of batch) fold.add(r);
      for (const w of fold.rows()) rows.set(w.id, w);
      fold.commit();
      batch = [];
    };
    const hold = new SpanHold({ gapMs: graceMs, spanMs: 20000, holdMs: 2000 }, (s) => {
      released++;
      const rec: FlowRecord = { id: s.id, user: U as UserId, appServer: s.appServer, startedAt: s.startedAt, endedAt: s.endedAt, endReason: 'completed', ...(s.streams > 1 ? { streams: s.streams, lastStartedAt: s.lastStartedAt } : {}) };
      index.recorded(rec);
      batch.push(flowToRow(rec));
    });
    // Entries reach the thread in order of completion; the clock is the entry's end; a read now and then (a sync).
    for (const s of [...streams].sort((a, b) => a.endedAt! - b.endedAt!)) {
      hold.add(s.id, s.user, s.appServer, s.startedAt, s.endedAt!, s.endedAt!);
      hold.releaseDue(s.endedAt!);
      if (rnd() < 0.05) hold.releaseUser(U);
      if (rnd() < 0.2) storeBatch();
    }
    hold.releaseAll();
    storeBatch();
    const fromIndex = index.overlapping(U as UserId, 0, at)!;
    const stored = [...rows.values()].map(rowToFlow);
    for (const [name, got] of [['index', fromIndex], ['store', stored]] as const) {
      t.is(got.reduce((n, f) => n + (f.streams ?? 1), 0), streams.length, `${name}: every stream counted once`);
      for (let q = -1000; q < at + 5000; q += 97) {
        const a = decide(streams, q, graceMs);
        const b = decide(got, q, graceMs);
        if (a.branch !== b.branch) t.fail(`${name}, user ${u}, instant ${q}: streams say ${a.branch}, spans say ${b.branch}`);
      }
      // The end of a reconnect window asks whether a stream started at or after an instant.
      for (let since = 0; since < at; since += 501) {
        const a = streams.some((f) => f.startedAt >= since);
        const b = got.some((f) => (f.lastStartedAt ?? f.startedAt) >= since);
        if (a !== b) t.fail(`${name}, user ${u}, since ${since}: streams say ${a}, spans say ${b}`);
      }
    }
  }
  t.log(`${total} streams released as ${released} spans`);
  t.true(released < total);
});
