/**
 * The admin API against the running system (real Kamailio, real Envoy, presencelb as a child process), through a
 * real grpc-js client and through grpcurl with server reflection: every method, every error status, health
 * checking, and the graceful shutdown of the admin and metrics servers. Authentication is off here (auth.test.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { status, credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProto } from 'grpc-health-check';
import { bindingAor } from '../../src/core/presence.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, startStack, type Stack } from '../system/stack.ts';
import { client, exec, grpcurl, rejectsWith, trailer } from './helpers.ts';

let stack: Stack;
test.before(async () => {
  stack = await startStack({ graceMs: 1000 });
});
test.after.always(async () => {
  await stack?.stop();
});

const api = (t: ExecutionContext) => client(t, { addr: stack.adminAddr });

/** streamsOpened counts the WatchEvents streams presencelb has opened so far (from its debug log). */
const streamsOpened = () => stack.plb.lines.filter((l) => l.msg === 'WatchEvents stream opened').length;

/** track makes a user known: their device registers and publishes, a request goes through, the claim's first steps run. */
async function track(): Promise<UserId> {
  const user = randomUUID() as UserId;
  const device = await stack.device(user);
  await device.publish('open', 'at my desk');
  const r = await stack.get('/hello', user);
  if (r.status !== 200) throw new Error(`request for ${user}: ${r.status} ${r.text}`);
  await stack.plb.waitForEvent(user, 'subscribe');
  await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
  return user;
}

test.serial('health checking: the server and the admin service are SERVING', async (t) => {
  const def = protoLoader.loadSync(healthProto, { enums: String });
  const Health = (loadPackageDefinition(def) as any).grpc.health.v1.Health;
  const h = new Health(stack.adminAddr, credentials.createInsecure());
  t.teardown(() => h.close());
  for (const service of ['', 'presencelb.admin.v1.AdminService']) {
    const r = await new Promise<any>((resolve, reject) => h.Check({ service }, (e: Error | null, v: unknown) => (e ? reject(e) : resolve(v))));
    t.is(r.status, 'SERVING', service || '(server)');
  }
});

test.serial('GetUser: state, flows, presence, what is held at the presence server, no route update or decision yet', async (t) => {
  const user = await track();
  await waitFor('the flow end from the access log', async () => (await stack.db('flows').where('user_id', user).whereNotNull('ended_at')).length === 1);
  const r = await api(t).call('GetUser', { uuid: user.toUpperCase() });
  t.is(r.user.uuid, user, 'the answer uses the canonical lower-case UUID');
  t.is(r.user.state, 'USER_STATE_TRACKING');
  t.regex(r.user.app_server, /^app-[ab]$/);
  t.true(Number(r.user.created_at.seconds) > 1.7e9);
  t.like(r, { registered: true, published: true, subscribed: true, route_update: null, last_decision: null });
  t.is(r.flows.length, 1);
  t.like(r.flows[0], { uuid: user, app_server: r.user.app_server, end_reason: 'completed' });
  t.truthy(r.flows[0].ended_at);
  t.true(r.presence_json.includes('open'), r.presence_json);
});

test.serial('ListUsers: pages of one visit every user once; the state filter applies; a token is bound to its filter', async (t) => {
  const mine = [await track(), await track(), await track()];
  const c = api(t);
  const seen: string[] = [];
  let page_token = '';
  let pages = 0;
  do {
    const r = await c.call('ListUsers', { page_size: 1, page_token });
    t.true(r.users.length <= 1);
    seen.push(...r.users.map((u: any) => u.uuid));
    page_token = r.next_page_token;
    pages++;
  } while (page_token && pages < 100);
  t.is(new Set(seen).size, seen.length, 'no user twice');
  for (const u of mine) t.true(seen.includes(u), `${u} listed`);
  const tracking = await c.call('ListUsers', { state: 'USER_STATE_TRACKING', page_size: 1000 });
  for (const u of mine) t.true(tracking.users.some((x: any) => x.uuid === u));
  t.true(tracking.users.every((x: any) => x.state === 'USER_STATE_TRACKING'));
  t.deepEqual((await c.call('ListUsers', { state: 'USER_STATE_DEGRADED' })).users, []);
  const first = await c.call('ListUsers', { page_size: 1 });
  const e = await rejectsWith(t, c.call('ListUsers', { page_size: 1, page_token: first.next_page_token, state: 'USER_STATE_TRACKING' }), status.INVALID_ARGUMENT, 'page_token');
  t.is(trailer(e, 'presencelb-field'), 'page_token');
});

test.serial('ListFlows: a user’s flows newest first, in pages', async (t) => {
  const user = await track();
  // Pauses longer than graceMs (1 s here): three rows. Streams closer together share a row (a span).
  for (const p of ['/one', '/two']) {
    await new Promise((r) => setTimeout(r, 1300));
    t.is((await stack.get(p, user)).status, 200);
  }
  await waitFor('three flows ended', async () => (await stack.db('flows').where('user_id', user).whereNotNull('ended_at')).length === 3);
  const c = api(t);
  const p1 = await c.call('ListFlows', { uuid: user, page_size: 2 });
  t.is(p1.flows.length, 2);
  t.truthy(p1.next_page_token);
  const p2 = await c.call('ListFlows', { uuid: user, page_size: 2, page_token: p1.next_page_token });
  t.is(p2.flows.length, 1);
  t.is(p2.next_page_token, '');
  const started = [...p1.flows, ...p2.flows].map((f: any) => Number(f.started_at.seconds) * 1e3 + f.started_at.nanos / 1e6);
  t.deepEqual(started, [...started].sort((a, b) => b - a), 'newest first');
  t.is(new Set([...p1.flows, ...p2.flows].map((f: any) => f.id)).size, 3);
  t.true([...p1.flows, ...p2.flows].every((f: any) => f.streams === 1));
  // Ten more requests, one right after the other: each is counted once, in a row of its own or in a span (a row
  // standing for several completed streams; in blocking mode a stream's row is usually written open, before
  // Envoy's access log reports its end, and such a row is never folded).
  for (let i = 0; i < 10; i++) t.is((await stack.get(`/more?i=${i}`, user)).status, 200);
  const streams = async () => (await c.call('ListFlows', { uuid: user, page_size: 20 })).flows.reduce((n: number, f: any) => n + f.streams, 0);
  await waitFor('every request stored', async () => (await streams()) === 13);
  const all = (await c.call('ListFlows', { uuid: user, page_size: 20 })).flows;
  t.true(all.every((f: any) => Number.isInteger(f.streams) && f.streams >= 1));
  await rejectsWith(t, c.call('ListFlows', { uuid: randomUUID(), page_token: p1.next_page_token }), status.INVALID_ARGUMENT, 'page_token: was issued for another user');
});

test.serial('ReconnectUser runs the reconnect branch: MESSAGE with the UUID, route update in Envoy, decision recorded', async (t) => {
  const user = await track();
  const device = await stack.device(user);
  const c = api(t);
  const before = await c.call('GetUser', { uuid: user });
  const r = await c.call('ReconnectUser', { uuid: user });
  t.is(r.route_update.uuid, user);
  t.is(r.route_update.app_server, before.user.app_server);
  t.true(Number(r.route_update.expires_at.seconds) > Number(r.route_update.created_at.seconds));
  const message = await device.waitForMessage((m) => m.body.includes(user), 10000);
  t.is(JSON.parse(message.body).uuid, user);
  const routes = await c.call('ListRouteUpdates');
  t.true(routes.route_updates.some((u: any) => u.uuid === user && u.app_server === before.user.app_server));
  const after = await c.call('GetUser', { uuid: user });
  t.is(after.user.state, 'USER_STATE_RECONNECTING');
  t.is(after.route_update.app_server, before.user.app_server);
  t.is(after.last_decision.branch, 'BRANCH_RECONNECT');
  t.regex(after.last_decision.reason, /admin API/);
  // The route update is in force in Envoy (xds.pins: header): the user's requests carry the pin and land there.
  for (let i = 0; i < 4; i++) {
    const r = await stack.get('/after', user);
    t.is(r.body.server, before.user.app_server);
    t.is(r.body.pin, before.user.app_server);
  }
});

test.serial('PurgeUser runs the teardown branch: unsubscribe, unpublish, unregister, purge; the user is gone', async (t) => {
  const user = await track();
  const c = api(t);
  const r = await c.call('PurgeUser', { uuid: user });
  t.is(Number(r.rows.users), 1);
  t.is(Number(r.rows.flows), 1);
  await stack.plb.waitForEvent(user, 'purge');
  const steps = stack.plb.events(user);
  t.deepEqual(steps.slice(steps.lastIndexOf('identify')), ['identify', 'unsubscribe', 'unpublish', 'unregister', 'purge']);
  t.deepEqual(await stack.kamailio!.bindingsOf(bindingAor(user, DOMAIN)), []);
  t.deepEqual(Object.values(await stack.rowsAbout(user)).filter((n) => n > 0), []);
  for (const m of ['GetUser', 'PurgeUser']) await rejectsWith(t, c.call(m, { uuid: user }), status.NOT_FOUND, user);
});

test.serial('WatchEvents streams the lifecycle events as they happen, for one user or all', async (t) => {
  const c = api(t);
  const user = randomUUID() as UserId;
  const only: any[] = [];
  const all: any[] = [];
  const opened = streamsOpened();
  const one = c.watchEvents(user);
  const every = c.watchEvents();
  t.teardown(() => {
    one.cancel();
    every.cancel();
  });
  one.on('data', (e) => only.push(e));
  every.on('data', (e) => all.push(e));
  one.on('error', () => undefined);
  every.on('error', () => undefined);
  await waitFor('both streams open at the server', () => streamsOpened() >= opened + 2);
  await stack.device(user);
  const other = await track();
  t.is((await stack.get('/watched', user)).status, 200);
  await waitFor('the subscribe event on the stream', () => only.some((e) => e.step === 'subscribe'));
  t.deepEqual(only.slice(0, 4).map((e) => e.step), ['register', 'notify', 'provide_access', 'subscribe']);
  t.true(only.every((e) => e.uuid === user && e.ok === true));
  t.true(typeof JSON.parse(only[1].detail_json) === 'object', 'details as JSON');
  t.true(all.some((e) => e.uuid === other), 'the unfiltered stream has every user');
  t.true(all.some((e) => e.uuid === user));
});

test.serial('ListEnvoys: the connected Envoy with the versions it was sent and ACKed, no NACK', async (t) => {
  const r = await api(t).call('ListEnvoys');
  const e = r.envoys.find((x: any) => x.node_id === stack.envoy.nodeId);
  t.truthy(e, JSON.stringify(r));
  t.is(e.connected, true);
  t.truthy(e.applied_version);
  const rds = e.types.find((x: any) => x.type_url === 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration');
  t.truthy(rds);
  t.truthy(rds.acked_version);
  t.is(rds.acked_version, rds.sent_version);
  t.true(e.types.every((x: any) => x.nacked_version === ''));
});

test.serial('GetStats: presencelb’s metrics as named values', async (t) => {
  const r = await api(t).call('GetStats');
  t.true(Number(r.counters.presencelb_tracked_users) >= 1);
  t.true(Number(r.counters['presencelb_xds_acks_total{type="RDS"}']) >= 1);
  t.true(Number(r.counters['presencelb_claim_steps_total{step="subscribe",result="ok"}']) >= 1);
  t.is(Number(r.counters['presencelb_decisions_total{branch="teardown",outcome="completed"}']), 1, 'the purge above');
  t.false(Object.keys(r.counters).some((k) => k.startsWith('process_')), 'runtime metrics stay on /metrics');
});

test.serial('INVALID_ARGUMENT names the field, in the message and the presencelb-field trailer', async (t) => {
  const c = api(t);
  const cases: Array<[string, object, string, string]> = [
    ['GetUser', { uuid: 'not-a-uuid' }, 'uuid', 'IDENTITY_MALFORMED'],
    ['GetUser', {}, 'uuid', 'IDENTITY_MISSING'],
    ['PurgeUser', { uuid: `${randomUUID()} ` }, 'uuid', 'IDENTITY_MALFORMED'],
    ['ReconnectUser', { uuid: '{0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f5}' }, 'uuid', 'IDENTITY_MALFORMED'],
    ['ListUsers', { page_size: 5000 }, 'page_size', 'ARGUMENT_INVALID'],
    ['ListUsers', { page_size: -1 }, 'page_size', 'ARGUMENT_INVALID'],
    ['ListUsers', { page_token: 'bm90IGEgdG9rZW4' }, 'page_token', 'ARGUMENT_INVALID'],
    ['ListFlows', { uuid: 'x', page_size: 1001 }, 'uuid', 'IDENTITY_MALFORMED'],
  ];
  for (const [method, req, field, code] of cases) {
    const e = await rejectsWith(t, c.call(method, req), status.INVALID_ARGUMENT, `${field}:`, `[${code}]`);
    t.is(trailer(e, 'presencelb-field'), field, `${method} ${JSON.stringify(req)}`);
    t.is(trailer(e, 'presencelb-error-code'), code);
  }
  const both = await rejectsWith(t, c.call('ListFlows', { uuid: 'x', page_size: 1001 }), status.INVALID_ARGUMENT);
  t.regex(both.details, /uuid:.*\n.*page_size:/s, 'every bad field is named');
  const stream = c.watchEvents('nope');
  const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
  t.is(err.code, status.INVALID_ARGUMENT);
  t.regex(err.details, /^uuid:/);
});

test.serial('NOT_FOUND for a user presencelb does not track', async (t) => {
  const c = api(t);
  const nobody = randomUUID();
  for (const m of ['GetUser', 'PurgeUser', 'ReconnectUser']) {
    const e = await rejectsWith(t, c.call(m, { uuid: nobody }), status.NOT_FOUND, nobody);
    t.is(trailer(e, 'presencelb-error-code'), 'USER_NOT_FOUND');
  }
  t.deepEqual((await c.call('ListFlows', { uuid: nobody })).flows, [], 'an unknown user has no flows');
});

test.serial('RESOURCE_EXHAUSTED for a message over admin.maxMessageBytes (64 KiB)', async (t) => {
  const c = api(t);
  await rejectsWith(t, c.call('GetUser', { uuid: 'x'.repeat(100 * 1024) }), status.RESOURCE_EXHAUSTED);
  await t.notThrowsAsync(c.call('ListEnvoys'), 'the server still answers');
});

test.serial('grpcurl lists the services and calls a method through server reflection, without .proto files', async (t) => {
  const bin = await grpcurl();
  const user = await track();
  const list = await exec(bin, ['-plaintext', stack.adminAddr, 'list']);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(list.stdout.trim().split('\n').sort(), ['grpc.health.v1.Health', 'presencelb.admin.v1.AdminService']);
  const methods = await exec(bin, ['-plaintext', stack.adminAddr, 'list', 'presencelb.admin.v1.AdminService']);
  t.true(methods.stdout.includes('presencelb.admin.v1.AdminService.WatchEvents'), methods.stdout + methods.stderr);
  const describe = await exec(bin, ['-plaintext', stack.adminAddr, 'describe', 'presencelb.admin.v1.GetUserResponse']);
  t.regex(describe.stdout, /google\.protobuf\.Timestamp|\.presencelb\.admin\.v1\.User user = 1/, describe.stderr);
  const call = await exec(bin, ['-plaintext', '-d', JSON.stringify({ uuid: user }), stack.adminAddr, 'presencelb.admin.v1.AdminService/GetUser']);
  t.is(call.code, 0, call.stderr);
  const body = JSON.parse(call.stdout);
  t.is(body.user.uuid, user);
  t.is(body.user.state, 'USER_STATE_TRACKING');
  t.regex(body.user.createdAt, /^\d{4}-\d\d-\d\dT/, 'Timestamps resolve through reflection');
  const bad = await exec(bin, ['-plaintext', '-d', '{"uuid":"nope"}', stack.adminAddr, 'presencelb.admin.v1.AdminService/GetUser']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /InvalidArgument[\s\S]*uuid:/);
  const health = await exec(bin, ['-plaintext', stack.adminAddr, 'grpc.health.v1.Health/Check']);
  t.regex(health.stdout, /SERVING/, health.stderr);
});

test.serial('graceful shutdown: SIGTERM ends WatchEvents streams with OK and closes the admin and metrics servers', async (t) => {
  const c = api(t);
  t.is((await fetch(stack.metricsUrl)).status, 200);
  const opened = streamsOpened();
  const stream = c.watchEvents();
  const ended = new Promise<number>((resolve) => {
    stream.on('status', (s) => resolve(s.code));
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
  });
  await waitFor('the stream open at the server', () => streamsOpened() > opened);
  const started = Date.now();
  t.is(await stack.plb.stop('SIGTERM'), 0);
  t.true(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
  t.is(await ended, status.OK);
  t.truthy(stack.plb.lines.find((l) => l.msg === 'admin API stopped'));
  await t.throwsAsync(fetch(stack.metricsUrl), undefined, 'the metrics endpoint is closed');
  const fresh = client(t, { addr: stack.adminAddr, deadlineMs: 2000 });
  const e = (await t.throwsAsync(fresh.call('ListEnvoys'))) as ServiceError;
  t.true(e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED, `admin port closed: ${status[e.code]}`);
});
