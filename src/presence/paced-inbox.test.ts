/** PacedInbox: received messages are delivered in order, in slices that yield to the event loop, with backpressure. */
import test from 'ava';
import { PacedInbox, sipResponse } from './paced-inbox.ts';

const tick = () => new Promise((r) => setImmediate(r));

function rig(opts: { sliceMs: number; highWater: number } = { sliceMs: 5, highWater: 3 }) {
  const o = { ...opts, urgent: sipResponse };
  const got: string[] = [];
  const flow: string[] = [];
  let work = 0;
  const inbox = new PacedInbox(
    (m) => {
      got.push(m);
      const until = performance.now() + work;
      while (performance.now() < until);
    },
    { pause: () => flow.push('pause'), resume: () => flow.push('resume') },
    o,
  );
  return { inbox, got, flow, setWork: (ms: number) => (work = ms) };
}

test('nothing is delivered in the callback that received it; all is delivered, in order, on later turns', async (t) => {
  const r = rig({ sliceMs: 50, highWater: 100 });
  for (const m of ['a', 'b', 'c']) r.inbox.push(m);
  t.deepEqual(r.got, []);
  await tick();
  t.deepEqual(r.got, ['a', 'b', 'c']);
  t.is(r.inbox.pending, 0);
});

test('a slice stops after sliceMs and lets other callbacks run before the next one', async (t) => {
  const r = rig({ sliceMs: 5, highWater: 1000 });
  r.setWork(2);
  for (let i = 0; i < 20; i++) r.inbox.push(String(i));
  let otherRanAfter = -1;
  setImmediate(() => setImmediate(() => (otherRanAfter = r.got.length)));
  while (r.inbox.pending > 0) await tick();
  t.deepEqual(r.got, Array.from({ length: 20 }, (_, i) => String(i)), 'in order, none lost');
  t.true(otherRanAfter > 0 && otherRanAfter < 20, `another callback ran after ${otherRanAfter} of 20 messages`);
});

test('above highWater the connection is paused, and resumed once the inbox is empty', async (t) => {
  const r = rig({ sliceMs: 50, highWater: 3 });
  for (const m of ['a', 'b']) r.inbox.push(m);
  t.deepEqual(r.flow, []);
  r.inbox.push('c');
  r.inbox.push('d');
  t.deepEqual(r.flow, ['pause'], 'paused once');
  await tick();
  t.deepEqual(r.got, ['a', 'b', 'c', 'd']);
  t.deepEqual(r.flow, ['pause', 'resume']);
});

test('flush delivers what is queued at once (the connection closed), and nothing twice', async (t) => {
  const r = rig({ sliceMs: 50, highWater: 100 });
  r.inbox.push('a');
  r.inbox.push('b');
  r.inbox.flush();
  t.deepEqual(r.got, ['a', 'b']);
  t.is(r.inbox.pending, 0);
  await tick();
  t.deepEqual(r.got, ['a', 'b'], 'the slice already scheduled finds nothing to deliver');
});

test('responses go ahead of the requests waiting; each kind keeps its own order', async (t) => {
  const r = rig({ sliceMs: 50, highWater: 100 });
  for (const m of ['NOTIFY 1', 'NOTIFY 2', 'SIP/2.0 200 a', 'NOTIFY 3', 'SIP/2.0 481 b']) r.inbox.push(m);
  await tick();
  t.deepEqual(r.got, ['SIP/2.0 200 a', 'SIP/2.0 481 b', 'NOTIFY 1', 'NOTIFY 2', 'NOTIFY 3']);
  t.true(sipResponse('SIP/2.0 200 OK\r\n'));
  t.false(sipResponse('NOTIFY sip:x SIP/2.0\r\n'));
});
