/**
 * Bad input at the system's edges: requests without a usable identity are answered 400 with a coded error that
 * never echoes the value, nothing about them is stored, nothing already stored is lost, and service goes on.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { waitFor } from '../harness/ports.ts';
import { startStack, type Stack } from './stack.ts';

let stack: Stack;
test.before(async () => {
  stack = await startStack();
});
test.after.always(async () => {
  await stack?.stop();
});

/** rawGet sends an HTTP/1.1 request with exactly the given header lines (fetch would merge duplicates). */
function rawGet(port: number, headerLines: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('error', reject);
    s.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
    s.write(['GET /x HTTP/1.1', 'host: app', 'connection: close', ...headerLines, '', ''].join('\r\n'));
  });
}

test('requests without a valid identity get 400 with a coded error; nothing is stored; service goes on', async (t) => {
  const known = randomUUID();
  t.is((await stack.get('/ok', known)).status, 200);
  await stack.plb.waitForEvent(known, 'subscribe');
  // Flow rows are written behind (batched every 25 ms): count once the known user's flow has landed.
  await waitFor('the known user\'s flow and row stored', async () => (await stack.db('flows').where('user_id', known)).length === 1 && (await stack.db('users').where('user_id', known)).length === 1);
  const flowsBefore = (await stack.db('flows').count({ n: '*' }))[0]!.n;
  const usersBefore = await stack.db('users').select('user_id');

  const missing = await stack.get('/x');
  t.is(missing.status, 400);
  t.is(missing.body.error, 'IDENTITY_MISSING');

  const secret = 'not-a-uuid-but-a-secret-value';
  const malformed = await stack.get('/x', secret);
  t.is(malformed.status, 400);
  t.is(malformed.body.error, 'IDENTITY_MALFORMED');
  t.false(malformed.text.includes(secret), 'the value is never echoed');

  const long = await stack.get('/x', 'a'.repeat(4000));
  t.is(long.status, 400);
  t.is(long.body.error, 'IDENTITY_MALFORMED');

  const port = Number(new URL(stack.envoy.listenerUrl).port);
  const two = await rawGet(port, [`x-user-id: ${randomUUID()}`, `x-user-id: ${randomUUID()}`]);
  t.is(two.status, 400);
  t.regex(two.body, /IDENTITY_AMBIGUOUS|IDENTITY_MALFORMED/);

  t.false(stack.plb.lines.some((l) => JSON.stringify(l).includes(secret)), 'the value is never logged');
  t.is((await stack.db('flows').count({ n: '*' }))[0]!.n, flowsBefore, 'no flow stored for a rejected request');
  t.deepEqual(await stack.db('users').select('user_id'), usersBefore, 'no user stored, none lost');

  // Still serving, known and new users alike.
  t.is((await stack.get('/ok', known)).status, 200);
  const fresh = randomUUID();
  t.is((await stack.get('/ok', fresh)).status, 200);
  await stack.plb.waitForEvent(fresh, 'subscribe');
  // A row of flows is a stream or a span of several (its `streams`).
  await waitFor('both flows of the known user stored', async () => (await stack.db('flows').where('user_id', known)).reduce((n: number, f: any) => n + Number(f.streams), 0) === 2);
});
