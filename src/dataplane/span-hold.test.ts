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
import { SpanHold, START_HOLD_MS, type HeldSpan, type HeldStart, type SpanHoldSettings } from './span-hold.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50';
const V = '7d1e0c9a-2b4f-4e8a-9c3d-5f6a7b8c9d0e';

/** random is a seeded generator of numbers in [0, 1) (a linear congruence), so a property test replays alike. */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** recordOf is a released span as the lifecycle records it (Lifecycle.flowRecorded): streams only when several. */
function recordOf(s: HeldSpan): FlowRecord {
  return { id: s.id, user: s.user as UserId, appServer: s.appServer, startedAt: s.startedAt, endedAt: s.endedAt, endReason: 'completed', ...(s.streams > 1 ? { streams: s.streams, lastStartedAt: s.lastStartedAt } : {}) };
}

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
  const rnd = random(11);
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
      const rec = recordOf(s);
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

/** holdingStarts records what a hold releases, spans and starts, in one list in release order. */
function holdingStarts(settings: SpanHoldSettings = { gapMs: 5000, spanMs: 60000, holdMs: 2000 }) {
  const out: Array<{ kind: 'span'; span: HeldSpan } | { kind: 'start'; start: HeldStart }> = [];
  const hold = new SpanHold(settings, (s) => out.push({ kind: 'span', span: { ...s } }), (s) => out.push({ kind: 'start', start: { ...s } }));
  const seen = () => out.map((o) => (o.kind === 'span' ? `span ${o.span.id} ${o.span.appServer} x${o.span.streams}` : `start ${o.start.id} ${o.start.appServer}`));
  return { hold, out, seen };
}

test('a held start that ends completed joins the user\'s spans with the server Envoy named; nothing of its start goes out', (t) => {
  const { hold, seen } = holdingStarts();
  hold.start('f1', U, null, 1000, 0);
  t.true(hold.upstream('f1', U, 'app-a'));
  t.true(hold.end('f1', U, 1010, true, 10));
  hold.start('f2', U, 'app-a', 3000, 100);
  t.true(hold.end('f2', U, 3020, true, 120));
  t.is(hold.starts, 0);
  hold.releaseDue(1999);
  t.deepEqual(seen(), [], 'nothing before holdMs from the first start');
  hold.releaseDue(2000);
  t.deepEqual(seen(), ['span f1 app-a x2']);
  t.false(hold.upstream('f1', U, 'app-b'), 'a flow no longer held: the caller reports its upstream');
  t.false(hold.end('f1', U, 5000, true, 3000), 'and its end');
});

test('a start still open when its user is released goes out as a start, after the user\'s spans, with its latest server; its end is then the caller\'s', (t) => {
  const { hold, seen } = holdingStarts({ gapMs: 5000, spanMs: 60000, holdMs: 2000, startHoldMs: 2000 });
  hold.start('long', U, 'app-a', 500, 0);
  hold.start('f1', U, 'app-a', 1000, 10);
  t.true(hold.end('f1', U, 1100, true, 20));
  t.true(hold.upstream('long', U, 'app-b'));
  hold.start('v1', V, 'app-a', 1200, 30);
  hold.releaseUser(U);
  t.deepEqual(seen(), ['span f1 app-a x1', 'start long app-b'], 'V waits');
  t.false(hold.end('long', U, 9000, true, 5000), 'released: the caller reports the end');
  t.is(hold.starts, 1);
  hold.releaseDue(2029);
  t.is(seen().length, 2);
  hold.releaseDue(2030);
  t.deepEqual(seen().slice(2), ['start v1 app-a'], 'a stream open for holdMs goes out as a start when its user is due');
  hold.start('w', V, 'app-a', 3000, 3000);
  hold.releaseAll();
  t.deepEqual(seen().slice(3), ['start w app-a'], 'releaseAll (a sync for all, stop) releases starts too');
});

test('a start open for startHoldMs (default 250 ms) releases its user\'s spans and starts; other users\' wait', (t) => {
  t.is(START_HOLD_MS, 250);
  const { hold, seen } = holdingStarts();
  t.is(hold.startHoldMs, 250);
  t.true(hold.checkEveryMs <= Math.ceil(250 / 4), `checked every ${hold.checkEveryMs} ms`);
  hold.add('v0', V, 'app-a', 0, 5, 0);
  hold.add('u0', U, 'app-a', 0, 5, 10);
  hold.start('sse', U, 'app-a', 100, 100);
  hold.start('quick', V, 'app-a', 120, 120);
  t.true(hold.end('quick', V, 130, true, 130));
  hold.releaseDue(349);
  t.deepEqual(seen(), []);
  hold.releaseDue(350);
  t.deepEqual(seen(), ['span u0 app-a x1', 'start sse app-a'], 'the stream shows as open 250 ms after it started; V\'s spans wait for holdMs');
  t.is(hold.starts, 0);
  hold.releaseDue(2000);
  t.deepEqual(seen().slice(2), ['span v0 app-a x2']);
  t.is(holdingStarts({ gapMs: 0, spanMs: 1, holdMs: 100 }).hold.startHoldMs, 100, 'never more than holdMs');
  t.throws(() => new SpanHold({ gapMs: 0, spanMs: 1, holdMs: 100, startHoldMs: 101 }, () => {}), { message: /startHoldMs \(101\) must not exceed holdMs/ });
  t.throws(() => new SpanHold({ gapMs: 0, spanMs: 1, holdMs: 100, startHoldMs: 0 }, () => {}), { message: /startHoldMs must be an integer >= 1/ });
});

test('an end other than completed releases the user\'s spans and the start first, and is the caller\'s to report', (t) => {
  const { hold, seen } = holdingStarts();
  hold.start('f1', U, 'app-a', 1000, 0);
  t.true(hold.end('f1', U, 1010, true, 10));
  hold.start('f2', U, 'app-a', 1500, 20);
  t.false(hold.end('f2', U, 1600, false, 30));
  t.deepEqual(seen(), ['span f1 app-a x1', 'start f2 app-a']);
  t.is(hold.users, 0);
});

test('a hold made without releaseStart refuses to hold a start it could not release', (t) => {
  const hold = new SpanHold({ gapMs: 0, spanMs: 1, holdMs: 1 }, () => {});
  hold.start('f1', U, 'app-a', 0, 0);
  t.throws(() => hold.releaseAll(), { message: /without releaseStart/ });
});

test('held starts and spans, released at every read, give each decision the index would give from every event (random streams, 200 users)', (t) => {
  const graceMs = 3000;
  const rnd = random(7);
  let decisions = 0;
  let reportedEvents = 0;
  let allEvents = 0;
  for (let u = 0; u < 200; u++) {
    // Streams of one user: most short, some open for up to 20 s (longer than holdMs); some named a server only
    // when they end (the access log's upstream).
    type Stream = { id: string; start: number; end: number; server: string; late: boolean };
    const streams: Stream[] = [];
    let at = 0;
    for (let i = 0; i < 30; i++) {
      at += Math.floor(rnd() * 5000);
      const long = rnd() < 0.1;
      streams.push({ id: `s${u}-${i}`, start: at, end: at + Math.floor(rnd() * (long ? 20000 : 300)), server: rnd() < 0.8 ? 'app-a' : 'app-b', late: rnd() < 0.3 });
    }
    const events = [...streams.map((s) => ({ at: s.start, s, end: false })), ...streams.map((s) => ({ at: s.end, s, end: true }))].sort((a, b) => a.at - b.at || Number(a.end) - Number(b.end));
    const startAt = new Map<Stream, number>();
    const endAt = new Map<Stream, number>();
    events.forEach((e, k) => (e.end ? endAt : startAt).set(e.s, k));
    allEvents += events.length;
    // What the lifecycle hears (its index), from the hold and from what the caller reports itself.
    const index = new FlowIndex(10 ** 9, graceMs);
    index.authoritativeFrom(0);
    const hold = new SpanHold({ gapMs: graceMs, spanMs: 20000, holdMs: 2000 }, (s) => {
      reportedEvents++;
      index.recorded(recordOf(s));
    }, (s) => {
      reportedEvents++;
      index.started({ id: s.id, user: U as UserId, appServer: s.appServer, startedAt: s.startedAt, endedAt: null, endReason: null });
    });
    events.forEach((e, k) => {
      const { s } = e;
      if (!e.end) hold.start(s.id, U, s.late ? null : s.server, s.start, e.at);
      else {
        if (s.late && !hold.upstream(s.id, U, s.server)) {
          reportedEvents++;
          index.upstream(s.id, U as UserId, s.server);
        }
        if (!hold.end(s.id, U, s.end, true, e.at)) {
          reportedEvents++;
          index.ended(s.id, U as UserId, s.end, 'completed');
        }
      }
      hold.releaseDue(e.at);
      if (rnd() >= 0.05) return;
      // A decision at this instant: the lifecycle first has the thread release the user's flows (a sync). The
      // truth is every event so far, each reported as it happened (a late server is known from the stream's end).
      hold.releaseUser(U);
      const truth: FlowRecord[] = streams
        .filter((x) => startAt.get(x)! <= k)
        .map((x) => {
          const ended = endAt.get(x)! <= k;
          return { id: x.id, user: U as UserId, appServer: x.late && !ended ? null : x.server, startedAt: x.start, endedAt: ended ? x.end : null, endReason: ended ? 'completed' : null };
        });
      const got = index.overlapping(U as UserId, Math.max(0, e.at - graceMs), e.at)!;
      const a = decide(truth, e.at, graceMs);
      const b = decide(got, e.at, graceMs);
      decisions++;
      if (a.branch !== b.branch) t.fail(`user ${u}, instant ${e.at}: the streams say ${a.branch}, the held flows ${b.branch}`);
      else if (a.branch === 'reconnect' && b.branch === 'reconnect' && a.appServer !== b.appServer) t.fail(`user ${u}, instant ${e.at}: the streams say ${a.appServer}, the held flows ${b.appServer}`);
    });
  }
  t.log(`${decisions} decisions; ${allEvents} start and end events reached the main thread as ${reportedEvents} messages`);
  t.true(decisions > 300);
  // Without the hold every start and end is a message (and every late upstream): here short streams are one span
  // message at most, and only the long ones and those open at a read go as a start and an end.
  t.true(reportedEvents < 0.8 * allEvents, `${reportedEvents} messages for ${allEvents} events`);
});
