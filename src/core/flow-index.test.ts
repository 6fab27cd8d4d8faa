/** FlowIndex: recent flows per user in memory, answering only for instants it has seen whole. */
import test from 'ava';
import { FlowIndex } from './flow-index.ts';
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
