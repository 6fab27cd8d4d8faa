/**
 * Deadlines: a presence server that accepts the WebSocket but never answers must make every operation reject with
 * PRESENCE_TIMEOUT after opTimeoutMs. A silent WebSocket server stands in for such a server (nothing else about
 * SIP is faked; the real protocol is proven against Kamailio in the other files).
 */
import test from 'ava';
import { WebSocketServer } from 'ws';
import { isPlbError } from '../../src/core/errors.ts';
import { freePort } from '../harness/ports.ts';
import { makeClient, newUser } from './helpers.ts';

test('every operation rejects PRESENCE_TIMEOUT when the server never answers', async (t) => {
  const port = await freePort();
  const received: string[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port, handleProtocols: () => 'sip' });
  wss.on('connection', (ws) => ws.on('message', (m) => received.push(String(m).split('\r\n')[0]!)));
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));

  const opTimeoutMs = 300;
  const { client } = makeClient(`ws://127.0.0.1:${port}`, { opTimeoutMs });
  await client.start();
  const user = newUser();
  const app = { name: 'app-a', host: '127.0.0.1', port: 8081 };
  for (const [name, op] of [
    ['register', () => client.register(user)],
    ['publish', () => client.publish(user, app)],
    ['subscribe', () => client.subscribe(user)],
    ['sendReconnect', () => client.sendReconnect(user, app)],
  ] as const) {
    const t0 = Date.now();
    const err = await t.throwsAsync(op());
    const took = Date.now() - t0;
    t.true(isPlbError(err, 'PRESENCE_TIMEOUT'), `${name}: ${String(err)}`);
    t.true(took >= opTimeoutMs - 20 && took < opTimeoutMs + 1000, `${name} took ${took} ms`);
  }
  t.deepEqual(received.map((l) => l.split(' ')[0]), ['REGISTER', 'PUBLISH', 'SUBSCRIBE', 'MESSAGE']);
  // The registration is kept (its REGISTER may have taken effect), so withdrawing it tries and times out too.
  const err = await t.throwsAsync(client.unregister(user));
  t.true(isPlbError(err, 'PRESENCE_TIMEOUT'), String(err));
  // A failed withdrawal still lets the registration go: nothing will refresh or re-establish it.
  t.false(client.held(user).registered);
  const sent = received.length;
  await client.unregister(user);
  t.is(received.length, sent, 'withdrawing it again sends nothing');
  // Nothing was published or subscribed: those withdrawals resolve at once.
  await client.unpublish(user);
  await client.unsubscribe(user);
  const t0 = Date.now();
  await client.stop();
  t.true(Date.now() - t0 < 3 * opTimeoutMs + 1000, `stop took ${Date.now() - t0} ms`);
});
