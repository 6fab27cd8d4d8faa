/** systemClock is the real Clock: wall-clock milliseconds and unref'd timers (they never keep the process alive). */
import type { Clock } from './core/ports.ts';

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
});
