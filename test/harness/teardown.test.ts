import test from 'ava';
import { Teardown } from './teardown.ts';

test('a start that fails part way stops what it had started, last first, and rethrows its own error', async (t) => {
  const stopped: string[] = [];
  const err = await t.throwsAsync(
    Teardown.guard(async (td) => {
      td.add('kamailio', (k) => stopped.push(k));
      td.add('proxy', () => {
        stopped.push('proxy');
        throw new Error('stop failed'); // one failing step must not keep the others from running
      });
      td.add('apps', async (a) => {
        await new Promise((r) => setTimeout(r, 10));
        stopped.push(a);
      });
      throw new Error('presencelb exited with 1 before it was ready');
    }),
  );
  t.is(err?.message, 'presencelb exited with 1 before it was ready');
  t.deepEqual(stopped, ['apps', 'proxy', 'kamailio']);
});

test('a start that succeeds stops nothing and returns what it built', async (t) => {
  const stopped: string[] = [];
  const rig = await Teardown.guard(async (td) => ({ envoy: td.add('envoy', (e) => stopped.push(e)) }));
  t.deepEqual(rig, { envoy: 'envoy' });
  t.deepEqual(stopped, []);
});
