/** FlowIndex: recent flows per user in memory, answering only for instants it has seen whole. */
import test from 'ava';
import { decide } from './decision.ts';
import { FlowIndex } from './flow-index.ts';
import type { FlowRecord } from './ports.ts';
import type { UserId } from './user-id.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const V = '11111111-2222-4333-8444-555555555555' as UserId;
const flow = (id: string, user: UserId, startedAt: number) => ({ id, user, appServer: 'app-a', startedAt, endedAt: null, endReason: null });

test('answers like FlowStore.flowsOverlapping: open flows, and flows that ended at or after since', (t) => {
  const ix = new FlowIndex(10000);
  ix.authoritativeFrom(0);
  ix.started(flow('open', U, 100));
  ix.started(flow('ended-late', U, 100));
  ix.started(flow('ended-early', U, 100));
  ix.started(flow('other-user', V, 100));
  ix.ended('ended-late', U, 500, 'completed');
  ix.ended('ended-early', U, 300, 'completed');
  ix.upstream('open', U, 'app-b');
  t.deepEqual(ix.overlapping(U, 500, 1000)!.map((f) => [f.id, f.appServer, f.endedAt]), [['open', 'app-b', null], ['ended-late', 'app-a', 500]]);
  t.deepEqual(ix.overlapping(V, 0, 1000)!.map((f) => f.id), ['other-user']);
  t.deepEqual(ix.overlapping('22222222-2222-4222-8222-222222222222' as UserId, 0, 1000), []);
});

test('no answer before it is authoritative, or for an instant before its retention window', (t) => {
  const ix = new FlowIndex(1000);
  ix.started(flow('f', U, 100));
  t.is(ix.overlapping(U, 100, 200), null, 'not authoritative yet (before restore)');
  ix.authoritativeFrom(50);
  t.is(ix.overlapping(U, 40, 200), null, 'before the instant it became authoritative');
  t.deepEqual(ix.overlapping(U, 60, 200)!.length, 1);
  t.is(ix.overlapping(U, 60, 5000), null, 'since is older than the retention window');
});

test('ended flows are dropped once past the retention window; open ones stay; forget drops ended ones only', (t) => {
  const ix = new FlowIndex(1000);
  ix.authoritativeFrom(0);
  ix.started(flow('old', U, 0));
  ix.ended('old', U, 100, 'completed');
  ix.started(flow('open', U, 50));
  t.is(ix.prune(5000), 1);
  t.deepEqual(ix.overlapping(U, 4500, 5000)!.map((f) => f.id), ['open']);
  ix.started(flow('recent', U, 4900));
  ix.ended('recent', U, 4950, 'completed');
  ix.forget(U);
  t.deepEqual(ix.overlapping(U, 4500, 5000)!.map((f) => f.id), ['open']);
  ix.ended('open', U, 5000, 'stream_error');
  t.is(ix.prune(7000), 0, 'nothing left: the user is gone from the index');
});

test('the ended flows of a busy user are pruned in rounds as they end, so they stay bounded between sweeps', (t) => {
  const ix = new FlowIndex(1000);
  ix.authoritativeFrom(0);
  let most = 0;
  for (let i = 0; i < 10000; i++) {
    ix.started(flow(`f${i}`, U, i));
    ix.ended(`f${i}`, U, i + 1, 'completed');
    most = Math.max(most, ix.held(U));
    t.is(ix.overlapping(U, Math.max(0, i - 900), i)!.length, Math.min(i + 1, 902), "the window is whole: every flow that ended at or after since");
  }
  // 1000 ms of retention at one flow per ms: about 1000 flows are in the window. Pruning each time the user's
  // flows have doubled keeps at most about twice that.
  t.log(`at most ${most} flows were held at one time`);
  t.true(most >= 1000 && most <= 2 * 1002);
  t.is(ix.prune(10000), 1001, "a full prune leaves the window: the flows that ended at 9000 or later");
});

test('with gapMs, completed streams to one server are one span: overlapping hands out copies; other streams keep their own', (t) => {
  const ix = new FlowIndex(60000, 5000);
  ix.authoritativeFrom(0);
  const done = (id: string, start: number, end: number, over: Partial<FlowRecord> = {}): FlowRecord => ({ ...flow(id, U, start), appServer: 'app-a', endedAt: end, endReason: 'completed', ...over });
  ix.recorded(done('a', 1000, 1010));
  ix.recorded(done('b', 2000, 2100));
  ix.recorded(done('c', 2050, 2060, { appServer: 'app-b' }));
  ix.recorded(done('d', 2200, 2300, { endReason: 'stream_error' }));
  ix.recorded(done('e', 8000, 8100)); // 5,900 ms after the span's end: a new span
  ix.recorded(done('f', 500, 600)); // older than the user's span: a record of its own
  const seen = ix.overlapping(U, 0, 9000)!;
  t.deepEqual(
    seen.map((f) => [f.id, f.appServer, f.startedAt, f.endedAt, f.endReason, f.streams ?? 1]).sort(),
    [
      ['a', 'app-a', 1000, 2100, 'completed', 2],
      ['c', 'app-b', 2050, 2060, 'completed', 1],
      ['d', 'app-a', 2200, 2300, 'stream_error', 1],
      ['e', 'app-a', 8000, 8100, 'completed', 1],
      ['f', 'app-a', 500, 600, 'completed', 1],
    ],
  );
  ix.recorded(done('g', 9000, 9500));
  t.is(seen.find((f) => f.id === 'e')!.endedAt, 8100, 'a record handed out does not change as its span grows');
  t.like(ix.overlapping(U, 0, 9600)!.find((f) => f.id === 'e'), { startedAt: 8000, lastStartedAt: 9000, endedAt: 9500, streams: 2 });
  ix.forget(U);
  ix.recorded(done('h', 9600, 9700));
  t.deepEqual(ix.overlapping(U, 0, 9800)!.map((f) => [f.id, f.streams ?? 1]), [['h', 1]], 'after a purge, a new span');
});

test('with gapMs, a stream that started before a span and ends after it does not join it: a span\'s start never moves', (t) => {
  // Completion order: a short stream S ends first, then a long one L that began before it.
  const ix = new FlowIndex(60000, 5000);
  ix.authoritativeFrom(0);
  const done = (id: string, start: number, end: number): FlowRecord => ({ ...flow(id, U, start), endedAt: end, endReason: 'completed' });
  ix.recorded(done('S', 85000, 90000));
  ix.recorded(done('L', 70000, 100000));
  ix.recorded(done('M', 101000, 102000)); // joins L's span, the newest
  const held = ix.overlapping(U, 60000, 102000)!.sort((a, b) => a.startedAt - b.startedAt);
  t.deepEqual(held.map((f) => [f.id, f.startedAt, f.lastStartedAt ?? f.startedAt, f.endedAt, f.streams ?? 1]), [
    ['L', 70000, 101000, 102000, 2],
    ['S', 85000, 85000, 90000, 1],
  ]);
});

test('with gapMs, decide reads the index\'s spans as it reads the streams (random streams, in order of completion)', (t) => {
  const graceMs = 3000;
  let both = 0;
  let differ = 0;
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let u = 0; u < 200; u++) {
    const ix = new FlowIndex(10 ** 9, graceMs);
    ix.authoritativeFrom(0);
    const streams: FlowRecord[] = [];
    let at = 0;
    for (let i = 0; i < 30; i++) {
      at += Math.floor(rnd() * 6000);
      streams.push({ id: `s${i}`, user: U, appServer: rnd() < 0.8 ? 'app-a' : 'app-b', startedAt: at, endedAt: at + Math.floor(rnd() * 2000), endReason: rnd() < 0.05 ? 'stream_error' : 'completed' });
    }
    for (const s of [...streams].sort((a, b) => a.endedAt! - b.endedAt!)) ix.recorded(s);
    const held = ix.overlapping(U, 0, at)!;
    t.is(held.reduce((n, f) => n + (f.streams ?? 1), 0), streams.length);
    for (let q = -1000; q < at + 5000; q += 97) {
      const a = decide(streams, q, graceMs);
      const b = decide(held, q, graceMs);
      if (a.branch !== b.branch) t.fail(`round ${u}, instant ${q}: streams say ${a.branch}, spans say ${b.branch}`);
      else if (a.branch === 'reconnect' && b.branch === 'reconnect') {
        both++;
        // Which server: the latest-started stream in use, against the span with the latest start by the instant.
        // They differ only when both servers were in use within graceMs (counted, not asserted).
        if (a.appServer !== b.appServer) differ++;
      }
    }
  }
  t.log(`reconnect to another server at ${differ} of ${both} instants where both reconnect`);
  t.pass();
});
