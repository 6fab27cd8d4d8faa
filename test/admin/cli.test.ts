/**
 * The operator's commands (`presencelb users|routes|envoys|stats|events`) run as child processes against the running
 * system: tables by default, JSON with --json, and a failed call printed as `presencelb: STATUS: message` with exit
 * status 1.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { UserId } from '../../src/core/user-id.ts';
import { REPO_ROOT } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { startStack, type Stack } from '../system/stack.ts';
import { cli } from './helpers.ts';

let stack: Stack;
test.before(async () => {
  stack = await startStack();
});
test.after.always(async () => {
  await stack?.stop();
});

const addr = () => ['--addr', stack.adminAddr];

async function track(): Promise<UserId> {
  const user = randomUUID() as UserId;
  await stack.device(user);
  if ((await stack.get('/hello', user)).status !== 200) throw new Error('request refused');
  await stack.plb.waitForEvent(user, 'subscribe');
  await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
  return user;
}

test.serial('users ls: a table, or JSON with --json; --state filters', async (t) => {
  const user = await track();
  const [json, tracking, degraded, table] = await Promise.all([
    cli('users', 'ls', '--json', ...addr()),
    cli('users', 'ls', '--state', 'tracking', '--json', ...addr()),
    cli('users', 'ls', '--state', 'degraded', '--json', ...addr()),
    cli('users', 'ls', ...addr()),
  ]);
  t.is(json.code, 0, json.stderr);
  const listed = JSON.parse(json.stdout).users.find((u: any) => u.uuid === user);
  t.like(listed, { uuid: user, state: 'USER_STATE_TRACKING' });
  t.regex(listed.created_at, /^\d{4}-\d\d-\d\dT.*Z$/, 'Timestamps as RFC 3339 strings');
  t.true(JSON.parse(tracking.stdout).users.every((u: any) => u.state === 'USER_STATE_TRACKING'));
  t.deepEqual(JSON.parse(degraded.stdout).users, []);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  t.regex(lines[0]!, /^UUID\s+STATE\s+APP SERVER\s+CREATED\s+UPDATED$/);
  t.regex(lines.find((l) => l.startsWith(user)) ?? '', new RegExp(`^${user}\\s+tracking\\s+app-[ab]\\s`));
});

test.serial('users show: everything held about a user; users purge: the teardown branch, then NOT_FOUND', async (t) => {
  const user = await track();
  const [json, text] = await Promise.all([cli('users', 'show', user, '--json', ...addr()), cli('users', 'show', user, ...addr())]);
  t.is(json.code, 0, json.stderr);
  t.like(JSON.parse(json.stdout), { user: { uuid: user, state: 'USER_STATE_TRACKING' }, registered: true, published: true, subscribed: true });
  t.regex(text.stdout, /registered: yes\s+published: yes\s+subscribed: yes/);
  t.regex(text.stdout, /last decision: none/);
  t.regex(text.stdout, /recent flows:\nFLOW\s+APP SERVER/);
  const purge = await cli('users', 'purge', user, '--json', ...addr());
  t.is(purge.code, 0, purge.stderr);
  t.is(JSON.parse(purge.stdout).rows.users, '1', 'int64 as a string, as in proto3 JSON');
  const gone = await cli('users', 'show', user, ...addr());
  t.is(gone.code, 1);
  t.regex(gone.stderr, new RegExp(`^presencelb: NOT_FOUND: uuid: presencelb tracks no user ${user} \\[USER_NOT_FOUND\\]`, 'm'));
  t.is(gone.stdout, '');
});

test.serial('a bad argument prints INVALID_ARGUMENT naming the field and exits 1', async (t) => {
  const [r, down] = await Promise.all([cli('users', 'show', 'not-a-uuid', ...addr()), cli('envoys', '--addr', '127.0.0.1:1')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^presencelb: INVALID_ARGUMENT: uuid: /m);
  t.is(down.code, 1);
  t.regex(down.stderr, /^presencelb: UNAVAILABLE: /m, 'no server: the status is printed too');
});

test.serial('envoys, routes and stats', async (t) => {
  const [envoys, table, routes, stats] = await Promise.all([
    cli('envoys', '--json', ...addr()),
    cli('envoys', ...addr()),
    cli('routes', '--json', ...addr()),
    cli('stats', ...addr()),
  ]);
  t.is(envoys.code, 0, envoys.stderr);
  t.true(JSON.parse(envoys.stdout).envoys.some((e: any) => e.node_id === stack.envoy.nodeId && e.connected));
  t.regex(table.stdout, new RegExp(`^${stack.envoy.nodeId}\\s+presencelb\\s+yes\\s+RouteConfiguration\\s`, 'm'));
  t.deepEqual(JSON.parse(routes.stdout), { route_updates: [] });
  t.regex(stats.stdout, /^presencelb_tracked_users\s+\d+$/m);
});

test.serial('events --follow prints each lifecycle event as it happens, until interrupted', async (t) => {
  const user = randomUUID() as UserId;
  await stack.device(user);
  const opened = stack.plb.lines.filter((l) => l.msg === 'WatchEvents stream opened').length;
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/presencelb.mjs'), 'events', '--follow', '--json', '--user', user, ...addr()], { cwd: REPO_ROOT });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor('the CLI’s stream to open', () => stack.plb.lines.filter((l) => l.msg === 'WatchEvents stream opened').length > opened, 20000);
  t.is((await stack.get('/followed', user)).status, 200);
  await waitFor('the subscribe event printed', () => out.includes('"step":"subscribe"'), 10000);
  const events = out.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(events.slice(0, 4).map((e) => e.step), ['register', 'notify', 'provide_access', 'subscribe']);
  t.true(events.every((e) => e.uuid === user));
  t.regex(events[0].at, /^\d{4}-/);
  child.kill('SIGINT');
  t.is(await exited, 0, 'an interrupted follow exits 0');
});

test.serial('events without --follow stops after --seconds', async (t) => {
  const started = Date.now();
  const r = await cli('events', '--seconds', '1', ...addr());
  t.is(r.code, 0, r.stderr);
  t.true(Date.now() - started < 15000);
});
