/**
 * Table tests for the adapter's pure policies: what a terminated subscription leads to, the flap guard, when
 * refreshes are sent, which outgoing answers are refused NOTIFYs, the client's option checks, and the Healer's
 * schedule on a hand-driven clock.
 */
import test from 'ava';
import type { SubscriptionState } from '../../src/core/ports.ts';
import { refusedNotify } from '../../src/presence/notification.ts';
import { refreshDelayMs, refreshPercent } from '../../src/presence/refresh-policy.ts';
import { resolveSipPresenceClientOptions, type SipPresenceClientOptions } from '../../src/presence/sip-presence-client-options.ts';
import { FlapGuard, RETRY_LATER_MS, terminationAction } from '../../src/presence/termination.ts';
import { Healer } from '../../src/presence/healer.ts';
import { KeyedSerial } from '../../src/presence/keyed-serial.ts';
import { newUser, realClock, RecordingSink, recordingLogger } from './helpers.ts';

const terminated = (reason: string | null, retryAfter: number | null = null): SubscriptionState => ({ state: 'terminated', reason, expires: null, retryAfter });
const actions: Array<[SubscriptionState, ReturnType<typeof terminationAction>]> = [
  [terminated('deactivated'), { resubscribe: true, afterMs: 0 }],
  [terminated('timeout'), { resubscribe: true, afterMs: 0 }],
  [terminated('timeout', 30), { resubscribe: true, afterMs: 0 }],
  [terminated('probation', 7), { resubscribe: true, afterMs: 7000 }],
  [terminated('probation'), { resubscribe: true, afterMs: RETRY_LATER_MS }],
  [terminated('giveup', 60), { resubscribe: true, afterMs: 60000 }],
  [terminated('giveup'), { resubscribe: true, afterMs: RETRY_LATER_MS }],
  [terminated('rejected'), { resubscribe: false }],
  [terminated('noresource', 5), { resubscribe: false }],
  [terminated('invariant'), { resubscribe: false }],
  [terminated(null), { resubscribe: true, afterMs: 0 }],
  [terminated(null, 3), { resubscribe: true, afterMs: 3000 }],
  [terminated('something-new', 2), { resubscribe: true, afterMs: 2000 }],
];
for (const [state, want] of actions) {
  test(`terminationAction(reason=${state.reason}, retry-after=${state.retryAfter})`, (t) => t.deepEqual(terminationAction(state), want));
}

test('FlapGuard allows max re-subscriptions per window and per key, then refuses; old ones slide out', (t) => {
  const g = new FlapGuard<string>(3, 1000);
  t.deepEqual([0, 10, 20, 30].map((at) => g.allow('a', at)), [true, true, true, false]);
  t.true(g.allow('b', 30), 'another key has its own count');
  t.true(g.allow('a', 1025), 'the ones at 0, 10 and 20 are out of the window');
  g.forget('a');
  t.true(g.allow('a', 1030));
});

const delays: Array<[number, number]> = [
  [1, 500],
  [2, 1000],
  [3, 1500],
  [5, 3000],
  [10, 8000],
  [20, 18000],
  [60, 54000],
  [600, 540000],
  [3600, 3240000],
];
for (const [sec, ms] of delays) {
  test(`refreshDelayMs(${sec}) = ${ms}`, (t) => {
    t.is(refreshDelayMs(sec), ms);
    t.true(ms < sec * 1000);
  });
}
test('refreshPercent is refreshDelayMs for SIP.js, within 50..99', (t) => {
  t.is(refreshPercent(5), 60);
  t.is(refreshPercent(600), 90);
  t.is(refreshPercent(1), 50);
});

const notify481 = ['SIP/2.0 481 Call/Transaction Does Not Exist', 'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-1', 'From: <sip:u@d>;tag=1', 'To: <sip:presencelb@d>;tag=2', 'CSeq: 5 NOTIFY', 'Call-ID: abc', 'Content-Length: 0', '', ''].join('\r\n');
test('refusedNotify reads 481 and 489 answers to NOTIFY, and nothing else', (t) => {
  t.deepEqual(refusedNotify(notify481), { statusCode: 481, callId: 'abc', from: '<sip:u@d>;tag=1' });
  t.deepEqual(refusedNotify(notify481.replace('481 Call/Transaction Does Not Exist', '489 Bad Event').replace('Call-ID', 'i')), { statusCode: 489, callId: 'abc', from: '<sip:u@d>;tag=1' });
  t.is(refusedNotify(notify481.replace('CSeq: 5 NOTIFY', 'CSeq: 5 BYE')), null);
  t.is(refusedNotify(notify481.replace('481', '200')), null);
  t.is(refusedNotify('NOTIFY sip:a@b SIP/2.0\r\nCSeq: 1 NOTIFY\r\n\r\n'), null);
});

const base: SipPresenceClientOptions = {
  domain: 'presencelb.test',
  registerExpiresSec: 300,
  publishExpiresSec: 300,
  subscribeExpiresSec: 300,
  sink: new RecordingSink(),
  clock: realClock,
  log: recordingLogger(),
};
test('options: url, or the former wsUrl; url wins; every scheme; a bad one names the field', (t) => {
  const endpoint = (o: Partial<SipPresenceClientOptions>) => {
    const r = resolveSipPresenceClientOptions({ ...base, ...o });
    return r.ok ? r.value.endpoint.url : r.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  };
  t.is(endpoint({ url: 'tcp://127.0.0.1:5060' }), 'tcp://127.0.0.1:5060');
  t.is(endpoint({ wsUrl: 'ws://127.0.0.1:5066' }), 'ws://127.0.0.1:5066');
  t.is(endpoint({ url: 'tls://h:5061', wsUrl: 'ws://127.0.0.1:5066' }), 'tls://h:5061');
  t.regex(endpoint({}), /^url: must be a ws:\/\/, wss:\/\/, tcp:\/\/ or tls:\/\/ URL/);
  t.regex(endpoint({ url: 'tcp://h', auth: { username: 'a b', passwordFile: '' } }), /auth\.username: .*; auth\.passwordFile: must be a file name/);
  t.regex(endpoint({ url: 'tcp://h', healDelaysMs: [] }), /healDelaysMs/);
});

/** manualClock runs timers only when the test advances time. */
function manualClock() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  return {
    clock: {
      now: () => now,
      setTimer(ms: number, fn: () => void) {
        const t = { at: now + ms, fn, live: true };
        timers.push(t);
        return () => (t.live = false);
      },
    },
    /** advance moves time forward, running due timers (and what they schedule) in order, letting promises settle. */
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        await new Promise((r) => setImmediate(r));
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        due.live = false;
        now = due.at;
        due.fn();
      }
      now = end;
      await new Promise((r) => setImmediate(r));
    },
  };
}

function healer(o: { connected: () => boolean; fail: () => boolean }) {
  const m = manualClock();
  const attempts: number[] = [];
  const gaveUp: string[] = [];
  const h = new Healer({
    clock: m.clock,
    log: recordingLogger(),
    serial: new KeyedSerial(),
    delaysMs: [0, 100, 1000],
    connected: o.connected,
    reestablish: async () => {
      attempts.push(m.clock.now());
      if (o.fail()) throw new Error('refused');
    },
    onGaveUp: (kind, user) => gaveUp.push(`${kind}:${user}`),
  });
  return { h, m, attempts, gaveUp };
}

test('Healer: attempts on its schedule after notBeforeMs, then gives up and says so', async (t) => {
  const { h, m, attempts, gaveUp } = healer({ connected: () => true, fail: () => true });
  const user = newUser();
  h.heal('subscription', user, 2000);
  h.heal('subscription', user);
  await m.advance(10000);
  t.deepEqual(attempts, [2000, 2100, 3100], 'one chain: the first try waits 2000 ms, then the schedule');
  t.deepEqual(gaveUp, [`subscription:${user}`]);
  t.false(h.healing('subscription', user));
});

test('Healer: a failure while disconnected ends the chain without giving up (restore heals after the outage)', async (t) => {
  const { h, m, attempts, gaveUp } = healer({ connected: () => false, fail: () => true });
  h.heal('registration', newUser());
  await m.advance(10000);
  t.deepEqual(attempts, [0]);
  t.deepEqual(gaveUp, []);
});

test('Healer: success ends the chain; cancel() stops a scheduled one', async (t) => {
  let n = 0;
  const { h, m, attempts } = healer({ connected: () => true, fail: () => ++n < 2 });
  const a = newUser();
  const b = newUser();
  h.heal('publication', a);
  h.heal('publication', b, 500);
  h.cancel('publication', b);
  await m.advance(10000);
  t.deepEqual(attempts, [0, 100], 'a: failed once, then succeeded; b: never attempted');
});
