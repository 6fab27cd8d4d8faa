/** Healer: attempts due together run at most maxConcurrent at a time, in the order they came due. */
import test from 'ava';
import { ManualClock, MemoryLogger } from '../core/testing/fakes.ts';
import type { UserId } from '../core/user-id.ts';
import { Healer } from './healer.ts';
import { KeyedSerial } from './keyed-serial.ts';

const user = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` as UserId;

test('after a reconnect, 1,000 items due at once are re-established 64 at a time, all of them, in order', async (t) => {
  const clock = new ManualClock();
  const started: string[] = [];
  let running = 0;
  let peak = 0;
  const release: Array<() => void> = [];
  const healer = new Healer({
    clock,
    log: new MemoryLogger(),
    serial: new KeyedSerial(),
    connected: () => true,
    onGaveUp: () => t.fail('nothing gives up'),
    reestablish: (kind, u) => {
      started.push(`${kind}:${u}`);
      running++;
      peak = Math.max(peak, running);
      return new Promise<void>((resolve) => release.push(() => {
        running--;
        resolve();
      }));
    },
  });
  for (let i = 0; i < 1000; i++) healer.heal('subscription', user(i));
  clock.advance(0);
  await new Promise((r) => setImmediate(r));
  t.is(healer.active, 64);
  t.is(healer.queued, 936);
  while (release.length > 0) {
    release.splice(0).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
  }
  t.is(started.length, 1000);
  t.is(peak, 64);
  t.deepEqual(started.slice(0, 3), ['subscription:' + user(0), 'subscription:' + user(1), 'subscription:' + user(2)]);
  t.is(healer.active, 0);
  t.false(healer.healing('subscription', user(999)));
});

test('an item cancelled while waiting for its turn is not re-established', async (t) => {
  const clock = new ManualClock();
  const started: string[] = [];
  const release: Array<() => void> = [];
  const healer = new Healer({
    clock,
    log: new MemoryLogger(),
    serial: new KeyedSerial(),
    connected: () => true,
    onGaveUp: () => undefined,
    maxConcurrent: 1,
    reestablish: (_k, u) => {
      started.push(u);
      return new Promise<void>((resolve) => release.push(resolve));
    },
  });
  healer.heal('registration', user(1));
  healer.heal('registration', user(2));
  clock.advance(0);
  await new Promise((r) => setImmediate(r));
  healer.cancel('registration', user(2));
  release.shift()!();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.deepEqual(started, [user(1)]);
});
