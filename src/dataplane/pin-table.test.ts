/** PinTable: the route updates of config xds.pins: header, read by ext_proc. */
import test from 'ava';
import type { UserId } from '../core/user-id.ts';
import { PinTable } from './pin-table.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;

test('PinTable: pin, look up, replace, unpin; versions count changes; an unknown server is refused and changes nothing', async (t) => {
  const table = new PinTable({ servers: ['app-a', 'app-b'] });
  const pin = { user: U, appServer: 'app-b', createdAt: 1, expiresAt: 2 };
  t.is((await table.pin(pin)).version, 'pins-1');
  t.is(table.serverFor(U), 'app-b');
  t.is((await table.pin({ ...pin, appServer: 'app-a' })).version, 'pins-2');
  t.is(table.serverFor(U), 'app-a');
  await t.throwsAsync(table.pin({ ...pin, appServer: 'app-z' }), { message: /app-z/ });
  t.is(table.serverFor(U), 'app-a');
  t.is(table.version, 'pins-2');
  t.is((await table.unpin(U)).version, 'pins-3');
  t.is((await table.unpin(U)).version, 'pins-3', 'unpinning nobody changes nothing');
  t.is(table.serverFor(U), undefined);
  t.is(table.size, 0);
});

test('PinTable: restored pins are kept, except those naming a server no longer configured or a non-canonical UUID', (t) => {
  const keep = { user: U, appServer: 'app-a', createdAt: 1, expiresAt: 2 };
  const gone = { user: '11111111-2222-4333-8444-555555555555' as UserId, appServer: 'app-old', createdAt: 1, expiresAt: 2 };
  const upper = { user: U.toUpperCase() as UserId, appServer: 'app-a', createdAt: 1, expiresAt: 2 };
  const table = new PinTable({ servers: ['app-a'], initialPins: [keep, gone, upper] });
  t.deepEqual(table.pins(), [keep]);
  t.deepEqual(table.dropped, [gone, upper]);
});

test('PinTable: watchers hear every change, and nothing once they stop', async (t) => {
  const table = new PinTable({ servers: ['app-a', 'app-b'] });
  const heard: [string, string | undefined][] = [];
  const stop = table.watch((u, s) => heard.push([u, s]));
  const pin = { user: U, appServer: 'app-b', createdAt: 1, expiresAt: 2 };
  await table.pin(pin);
  await t.throwsAsync(table.pin({ ...pin, appServer: 'app-z' }));
  await table.unpin(U);
  await table.unpin(U);
  stop();
  await table.pin(pin);
  t.deepEqual(heard, [[U, 'app-b'], [U, undefined]]);
});
