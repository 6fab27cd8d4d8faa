import test from 'ava';
import { instrument } from './instrument.ts';

class Thing {
  private n = 1;
  get value() { return this.n; }
  async add(k: number) { this.n += k; return this.n; }
  async boom() { throw new Error('boom'); }
  sync() { return this.n; }
}

test('instrument reports every promise-returning call with its outcome and keeps behaviour and `this`', async (t) => {
  const seen: Array<[string, boolean]> = [];
  const thing = instrument(new Thing(), (m, s, e) => {
    t.true(s >= 0);
    seen.push([m, e === null]);
  });
  t.is(await thing.add(2), 3);
  t.is(thing.value, 3);
  t.is(thing.sync(), 3);
  await t.throwsAsync(thing.boom(), { message: 'boom' });
  t.deepEqual(seen, [['add', true], ['boom', false]]);
  t.is(thing.add, thing.add, 'a method is wrapped once');
});
