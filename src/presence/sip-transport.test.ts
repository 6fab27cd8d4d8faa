/** corkForTurn: the writes of one event-loop turn leave together. */
import test from 'ava';
import { corkForTurn } from './sip-transport.ts';

test('the first call in a turn corks the socket once; the next tick uncorks it, and the next turn corks again', async (t) => {
  const calls: string[] = [];
  const socket = { cork: () => calls.push('cork'), uncork: () => calls.push('uncork') };
  corkForTurn(socket);
  corkForTurn(socket);
  corkForTurn(socket);
  t.deepEqual(calls, ['cork']);
  await new Promise((r) => process.nextTick(r));
  t.deepEqual(calls, ['cork', 'uncork']);
  corkForTurn(socket);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(calls, ['cork', 'uncork', 'cork', 'uncork']);
});
