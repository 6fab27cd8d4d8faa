import test from 'ava';
import { decide, notifyInstant } from './decision.ts';
import type { FlowRecord } from './ports.ts';
import type { UserId } from './user-id.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const T = 1_700_000_000_000;
const G = 5000;
const flow = (id: string, startedAt: number, endedAt: number | null, appServer: string | null = 'app-a'): FlowRecord => ({
  id, user: U, appServer, startedAt, endedAt, endReason: endedAt === null ? null : 'completed',
});

const cases: Array<[string, FlowRecord[], 'reconnect' | 'teardown', string | null]> = [
  ['no flows at all', [], 'teardown', null],
  ['flow open at the instant', [flow('f1', T - 1000, null)], 'reconnect', 'app-a'],
  ['flow started exactly at the instant', [flow('f1', T, null)], 'reconnect', 'app-a'],
  ['flow started 1 ms after the instant', [flow('f1', T + 1, null)], 'teardown', null],
  ['flow ended after the instant (NOTIFY raced the end)', [flow('f1', T - 1000, T + 200)], 'reconnect', 'app-a'],
  ['flow ended exactly at the grace edge', [flow('f1', T - 9000, T - G)], 'reconnect', 'app-a'],
  ['flow ended 1 ms beyond the grace period', [flow('f1', T - 9000, T - G - 1)], 'teardown', null],
  ['open flow preferred over one ended in grace', [flow('f1', T - 9000, T - 10, 'app-a'), flow('f2', T - 20000, null, 'app-b')], 'reconnect', 'app-b'],
  ['latest of two open flows', [flow('f1', T - 9000, null, 'app-a'), flow('f2', T - 100, null, 'app-b')], 'reconnect', 'app-b'],
  ['server unknown on the latest, known on an older one', [flow('f1', T - 9000, null, 'app-a'), flow('f2', T - 100, null, null)], 'reconnect', 'app-a'],
  ['only unknown-server flows', [flow('f1', T - 100, null, null)], 'reconnect', null],
];

for (const [title, flows, branch, server] of cases) {
  test(`decide: ${title}`, (t) => {
    const d = decide(flows, T, G);
    t.is(d.branch, branch, d.reason);
    if (d.branch === 'reconnect') t.is(d.appServer, server);
    t.true(d.reason.length > 0);
  });
}

test('decide: zero grace counts only flows still open at the instant', (t) => {
  t.is(decide([flow('f1', T - 10, T - 1)], T, 0).branch, 'teardown');
  t.is(decide([flow('f1', T - 10, T)], T, 0).branch, 'reconnect');
});

test('notifyInstant: Date header second extended to its end, never past arrival; arrival when absent', (t) => {
  t.is(notifyInstant({ sentAt: null, receivedAt: T + 5 }), T + 5);
  t.is(notifyInstant({ sentAt: T, receivedAt: T + 5000 }), T + 999);
  t.is(notifyInstant({ sentAt: T, receivedAt: T + 300 }), T + 300);
  t.is(notifyInstant({ sentAt: Number.NaN, receivedAt: T }), T);
});

test('a span ranks by its latest stream started by the instant, not by its first', (t) => {
  // Streams to app-a every second for 51 s (one span), one stream to app-b at 50 s: at 52.6 s the latest stream
  // the NOTIFY could have seen went to app-a.
  const a: FlowRecord = { ...flow('a', T, T + 51_000), streams: 52, lastStartedAt: T + 51_000 };
  const b = flow('b', T + 50_000, T + 51_000, 'app-b');
  t.like(decide([a, b], T + 52_600, G), { branch: 'reconnect', appServer: 'app-a' });
  // A span with streams on both sides of the instant ranks as if its last one before it started at the instant.
  const c: FlowRecord = { ...flow('c', T + 40_000, T + 60_000, 'app-b'), streams: 20, lastStartedAt: T + 59_000 };
  t.like(decide([a, c], T + 52_600, G), { branch: 'reconnect', appServer: 'app-b' });
});
