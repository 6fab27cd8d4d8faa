import test from 'ava';
import { canTransition, transition, type SessionState } from './session.ts';
import { isPlbError } from './errors.ts';

const legal: Array<[SessionState, SessionState]> = [
  ['registering', 'publishing'], ['publishing', 'subscribing'], ['subscribing', 'tracking'], ['tracking', 'deciding'],
  ['deciding', 'reconnecting'], ['reconnecting', 'tracking'], ['deciding', 'tearing_down'], ['tearing_down', 'gone'],
  ['registering', 'degraded'], ['degraded', 'registering'], ['reconnecting', 'deciding'], ['tracking', 'reconnecting'],
];
const illegal: Array<[SessionState, SessionState]> = [
  ['registering', 'subscribing'], ['registering', 'tracking'], ['tracking', 'gone'], ['gone', 'registering'],
  ['deciding', 'gone'], ['publishing', 'tracking'], ['tearing_down', 'tracking'], ['degraded', 'tracking'],
];
for (const [a, b] of legal) test(`session: ${a} → ${b} allowed`, (t) => t.is(transition(a, b), b));
for (const [a, b] of illegal)
  test(`session: ${a} → ${b} rejected with ILLEGAL_TRANSITION`, (t) => {
    t.false(canTransition(a, b));
    const e = t.throws(() => transition(a, b));
    t.true(isPlbError(e, 'ILLEGAL_TRANSITION'));
  });
