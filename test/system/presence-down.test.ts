/**
 * A presence server that is down when presencelb starts: presencelb says so clearly, keeps serving traffic,
 * records flows, and takes the claim's steps for the user once the presence server is back.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { waitFor } from '../harness/ports.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack & { presencePort: number };
let kamailio: Kamailio | undefined;
test.before(async () => {
  stack = await startStack({ presenceDown: true });
});
test.after.always(async () => {
  await stack?.stop();
  await kamailio?.stop();
});

test('presence server down at start-up: clear log, traffic flows, steps taken once it is back', async (t) => {
  const startup = stack.plb.lines.find((l) => /presence server unreachable at start-up/.test(l.msg ?? ''));
  t.truthy(startup, 'a clear start-up log line');
  t.is(startup?.code, 'PRESENCE_UNAVAILABLE');

  const user = randomUUID();
  const r = await stack.get('/hello', user);
  t.is(r.status, 200, 'traffic flows without the presence server');
  const failed = await stack.plb.waitForEvent(user, 'register');
  t.false(failed.ok);
  t.truthy(failed.code);
  await waitFor('the flow stored', async () => (await stack.db('flows').where('user_id', user)).length === 1);
  t.is((await stack.db('users').where('user_id', user).first())?.state, 'degraded');

  kamailio = await startKamailio({ port: stack.presencePort });
  await new Promise((res) => setTimeout(res, 1100)); // past the first retry back-off
  t.is((await stack.get('/again', user)).status, 200);
  await waitFor('the claim’s steps once the presence server is back', () => stack.plb.events(user).includes('subscribe'), 15000);
  const steps = stack.plb.events(user);
  t.deepEqual(steps.slice(0, 5), ['register!', 'register', 'notify', 'provide_access', 'subscribe']);
  await waitFor('the user tracked', async () => (await stack.db('users').where('user_id', user).first())?.state === 'tracking');
});
