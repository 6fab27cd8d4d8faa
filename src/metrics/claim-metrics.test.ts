import test from 'ava';
import type { ClaimStep, LifecycleEvent } from '../core/lifecycle-events.ts';
import type { UserId } from '../core/user-id.ts';
import { ClaimMetrics } from './claim-metrics.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;

function run(events: Array<[ClaimStep, boolean, number, Record<string, unknown>?]>) {
  const out = { steps: [] as string[], decisions: [] as string[], latencies: [] as number[] };
  const m = new ClaimMetrics({
    step: (s, ok) => out.steps.push(`${s}${ok ? '' : '!'}`),
    decision: (b, o) => out.decisions.push(`${b}:${o}`),
    notifyToDecision: (s) => out.latencies.push(s),
  });
  for (const [step, ok, at, detail] of events) m.observe({ step, user: U, at, ok, ...(detail ? { detail } : {}) } satisfies LifecycleEvent);
  return out;
}

const cases: Array<[string, Array<[ClaimStep, boolean, number, Record<string, unknown>?]>, string[], number[]]> = [
  [
    'reconnect after a NOTIFY: completed, latency from receipt to decision',
    [['receive_notification', true, 1000, { receivedAt: 1000 }], ['identify', true, 1040, { branch: 'reconnect', notifySentAt: 999 }], ['route_update', true, 1050], ['reconnect_message', true, 1060]],
    ['reconnect:completed'],
    [0.04],
  ],
  [
    'teardown with a failed unregister: failed',
    [['receive_notification', true, 1000, { receivedAt: 1000 }], ['identify', true, 1010, { branch: 'teardown', notifySentAt: 1000 }], ['unsubscribe', true, 1011], ['unregister', false, 1012], ['purge', true, 1013]],
    ['teardown:failed'],
    [0.01],
  ],
  [
    'operator purge (decision instant after the last NOTIFY): counted, not measured',
    [['receive_notification', true, 1000, { receivedAt: 1000 }], ['identify', true, 5000, { branch: 'teardown', notifySentAt: 5000 }], ['purge', true, 5001]],
    ['teardown:completed'],
    [],
  ],
  [
    'a reconnect that took no step is abandoned when the next decision comes',
    [['identify', true, 1, { branch: 'reconnect', notifySentAt: 1 }], ['identify', true, 2, { branch: 'teardown', notifySentAt: 2 }], ['purge', true, 3]],
    ['reconnect:abandoned', 'teardown:completed'],
    [],
  ],
];
for (const [title, events, decisions, latencies] of cases)
  test(title, (t) => {
    const out = run(events);
    t.deepEqual(out.decisions, decisions);
    t.deepEqual(out.latencies, latencies);
    t.is(out.steps.length, events.length, 'every event counts as a step');
  });
