/**
 * XdsRoutePublisher with extProc.offPath: changes to the off-path users are published together within publishMs;
 * pins and unpins publish at once with the set as it is; stop cancels a pending publish. Real timers throughout.
 */
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Snapshot } from '../../src/xds/snapshot.ts';
import type { RouteConfigurationResource, RouteResource, VirtualHostResource } from '../../src/xds/resource-types/route.ts';
import type { PinRecord } from '../../src/core/ports.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { REMOVAL_MS, XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { baseInput } from './_fixture.ts';
import type { AckOutcome } from '../../src/xds/ads-types.ts';

const U1 = '11111111-1111-4111-8111-111111111111' as UserId;
const U2 = '22222222-2222-4222-8222-222222222222' as UserId;
const U3 = '33333333-3333-4333-8333-333333333333' as UserId;
const FILTER = 'envoy.filters.http.ext_proc';
const pin = (user: UserId, appServer: string, createdAt = 1): PinRecord => ({ user, appServer, createdAt, expiresAt: createdAt + 60000 });

const base = baseInput([
  { name: 'app-a', host: '127.0.0.1', port: 8081 },
  { name: 'app-b', host: '127.0.0.1', port: 8082 },
]);

/** entries lists a proto map as [key, value] pairs, whether it is held as an object or as a list of {key, value}. */
const entries = (m: unknown): [string, any][] =>
  Array.isArray(m) ? m.map((e: { key: string; value: unknown }) => [e.key, e.value]) : Object.entries((m ?? {}) as Record<string, unknown>);

const vhostOf = (s: Snapshot): VirtualHostResource => (s.resources('RDS')[0] as RouteConfigurationResource).virtual_hosts[0]!;

/** offPathOf is the users of a published snapshot's match map ([] for a plain route list). */
const offPathOf = (s: Snapshot): string[] => {
  const vh = vhostOf(s);
  return vh.matcher ? entries(vh.matcher.matcher_tree.exact_match_map.map).map(([k]) => k) : [];
};

/** setup makes a publisher over a fake sink, with off-path users unless offPath is false. */
const setup = (opts: { publishMs?: number; offPath?: boolean; identityAtStart?: boolean; initialPins?: PinRecord[]; ack?: AckOutcome } = {}) => {
  const published: Snapshot[] = [];
  const errors: Error[] = [];
  const users = new Set<string>();
  /** awaited: the snapshot versions offPathSettled waited for Envoy to apply, and the timeouts it gave. */
  const awaited: { version: string; timeoutMs: number }[] = [];
  const applied = async (version: string, timeoutMs: number): Promise<AckOutcome> => {
    awaited.push({ version, timeoutMs });
    return opts.ack ?? { status: 'acked', version, nodes: [] };
  };
  const pub = new XdsRoutePublisher({
    sink: { publish: (s) => published.push(s) },
    base,
    ...(opts.initialPins ? { initialPins: opts.initialPins } : {}),
    ...(opts.offPath === false ? {} : { offPath: { users, extProcFilter: FILTER, ...(opts.identityAtStart !== undefined ? { identityAtStart: opts.identityAtStart } : {}), publishMs: opts.publishMs ?? 30, onError: (e: Error) => errors.push(e), applied } }),
  });
  return { pub, published, errors, users, awaited };
};

test('a burst of offPathChanged() publishes once, after publishMs, with the users in the set at that time', async (t) => {
  const { pub, published, errors, users } = setup({ publishMs: 60 });
  t.teardown(() => pub.stop());
  users.add(U1);
  pub.offPathChanged();
  for (let i = 0; i < 10; i++) pub.offPathChanged();
  await sleep(15);
  users.add(U3);
  users.add(U2);
  pub.offPathChanged();
  users.delete(U2);
  pub.offPathChanged();
  t.is(published.length, 0, 'nothing is published before publishMs');
  await sleep(200);
  t.deepEqual(errors, []);
  t.is(published.length, 1, 'one publish for the whole burst');
  t.deepEqual(offPathOf(published[0]!), [U1, U3]);
  await sleep(100);
  t.is(published.length, 1, 'and no other afterwards');
});

test('identityAtStart reaches the route table: a FilterConfig with it, the filter\'s ExtProcPerRoute without', async (t) => {
  const typeOf = async (identityAtStart: boolean | undefined) => {
    const { pub, published, users } = setup({ publishMs: 10, ...(identityAtStart !== undefined ? { identityAtStart } : {}) });
    t.teardown(() => pub.stop());
    users.add(U1);
    pub.offPathChanged();
    await sleep(80);
    const entry = vhostOf(published.at(-1)!).matcher!.matcher_tree.exact_match_map.map[0]!.value.action.typed_config as RouteResource;
    return entry.typed_per_filter_config?.[0]?.value['@type'];
  };
  t.is(await typeOf(true), 'type.googleapis.com/envoy.config.route.v3.FilterConfig');
  t.is(await typeOf(false), 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute');
  t.is(await typeOf(undefined), 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute');
});

test('no publish before publishMs; a later change schedules another publish', async (t) => {
  const { pub, published, errors, users } = setup({ publishMs: 150 });
  t.teardown(() => pub.stop());
  users.add(U1);
  pub.offPathChanged();
  await sleep(60);
  t.is(published.length, 0);
  await sleep(250);
  t.is(published.length, 1);
  t.deepEqual(offPathOf(published[0]!), [U1]);
  users.delete(U1);
  pub.offPathChanged();
  await sleep(40);
  t.is(published.length, 1);
  await sleep(250);
  t.deepEqual(errors, []);
  t.is(published.length, 2);
  t.deepEqual(offPathOf(published[1]!), [], 'an empty set publishes the plain route list again');
  t.truthy(vhostOf(published[1]!).routes);
  t.not(published[1]!.typeVersion('RDS'), published[0]!.typeVersion('RDS'));
});

test('pin() and unpin() publish at once, with the off-path set as it is, pinned off-path users to their server', async (t) => {
  const { pub, published, errors, users } = setup({ publishMs: 10_000 });
  t.teardown(() => pub.stop());
  users.add(U3);
  users.add(U1);
  const { version } = await pub.pin(pin(U1, 'app-b'));
  t.is(published.length, 1, 'published at once, without waiting for publishMs');
  t.is(published[0]!.typeVersion('RDS'), version);
  t.deepEqual(offPathOf(published[0]!), [U1, U3]);
  const map = new Map(entries(vhostOf(published[0]!).matcher!.matcher_tree.exact_match_map.map));
  t.like(map.get(U1).action.typed_config, { name: `pin:${U1}`, route: { cluster: 'app-b' } });
  t.like(map.get(U3).action.typed_config, { name: 'off-path' });
  users.delete(U3);
  await pub.unpin(U1);
  t.is(published.length, 2);
  t.deepEqual(offPathOf(published[1]!), [U1]);
  t.like(new Map(entries(vhostOf(published[1]!).matcher!.matcher_tree.exact_match_map.map)).get(U1).action.typed_config, { name: 'off-path' });
  t.deepEqual(errors, []);
});

test('publishCurrent() publishes the off-path set too', (t) => {
  const { pub, published, users } = setup({ initialPins: [pin(U2, 'app-a')] });
  users.add(U1);
  pub.publishCurrent();
  t.is(published.length, 1);
  t.deepEqual(offPathOf(published[0]!), [U1]);
});

test('stop() cancels a pending publish', async (t) => {
  const { pub, published, errors, users } = setup({ publishMs: 30 });
  users.add(U1);
  pub.offPathChanged();
  pub.stop();
  await sleep(120);
  t.is(published.length, 0);
  t.deepEqual(errors, []);
});

test('without the offPath option, offPathChanged() never publishes and snapshots keep a plain route list', async (t) => {
  const { pub, published, errors } = setup({ offPath: false });
  pub.offPathChanged();
  pub.offPathChanged();
  await sleep(150);
  t.is(published.length, 0);
  t.deepEqual(errors, []);
  await pub.pin(pin(U1, 'app-a'));
  t.is(published.length, 1);
  t.is(vhostOf(published[0]!).matcher, undefined);
  t.deepEqual(vhostOf(published[0]!).routes!.map((r) => r.name), [`pin:${U1}`, 'default']);
});

test('a publish that fails is reported to onError, and nothing is published', async (t) => {
  const { pub, published, errors, users } = setup({ publishMs: 20 });
  t.teardown(() => pub.stop());
  users.add(U1);
  users.add('not-a-uuid');
  pub.offPathChanged();
  await sleep(120);
  t.is(published.length, 0);
  t.is(errors.length, 1);
  t.is((errors[0] as { code?: string }).code, 'IDENTITY_MALFORMED');
  t.regex(errors[0]!.message, /offPath\.users\[1\]/);
  // Once the set is good again, the next change publishes.
  users.delete('not-a-uuid');
  pub.offPathChanged();
  await sleep(120);
  t.is(errors.length, 1);
  t.is(published.length, 1);
  t.deepEqual(offPathOf(published[0]!), [U1]);
});

test('offPathSettled publishes the set within REMOVAL_MS, not publishMs, and waits for Envoy to apply that snapshot', async (t) => {
  const { pub, published, errors, users, awaited } = setup({ publishMs: 5000 });
  t.teardown(() => pub.stop());
  users.add(U1);
  users.add(U2);
  pub.offPathChanged();
  await sleep(50);
  t.is(published.length, 0, 'additions wait for publishMs');
  users.delete(U2);
  pub.offPathChanged();
  const t0 = Date.now();
  // Two teardowns close together share one snapshot.
  const [a, b] = await Promise.all([pub.offPathSettled(1500), pub.offPathSettled(1500)]);
  t.true(Date.now() - t0 < REMOVAL_MS + 400, `settled after ${Date.now() - t0} ms`);
  t.deepEqual([a, b], ['acked', 'acked']);
  t.deepEqual(errors, []);
  t.is(published.length, 1, 'one snapshot for both');
  t.deepEqual(offPathOf(published[0]!), [U1], 'with the set as it was then');
  t.deepEqual(awaited, [{ version: published[0]!.version, timeoutMs: 1500 }, { version: published[0]!.version, timeoutMs: 1500 }], 'each waited for that snapshot');
  // Nothing changed since: no new snapshot, the same one is waited for; and the timer set before publishes nothing.
  t.is(await pub.offPathSettled(700), 'acked');
  t.is(published.length, 1);
  t.is(awaited.at(-1)!.version, published[0]!.version);
});

test('offPathSettled reports what waiting for Envoy gave, failed when no snapshot could be built, and off once stopped', async (t) => {
  const late = setup({ ack: { status: 'timeout', version: 'v', pending: [] } });
  late.users.add(U1);
  late.pub.offPathChanged();
  t.is(await late.pub.offPathSettled(100), 'timeout');
  late.pub.stop();
  late.users.delete(U1);
  late.pub.offPathChanged();
  t.is(await late.pub.offPathSettled(100), 'off');
  await sleep(100);
  t.is(late.published.length, 1, 'nothing published once stopped');

  const bad = setup({ publishMs: 5000 });
  t.teardown(() => bad.pub.stop());
  bad.users.add('not-a-uuid');
  bad.pub.offPathChanged();
  t.is(await bad.pub.offPathSettled(100), 'failed');
  t.is(bad.errors.length, 1);
  t.is(bad.awaited.length, 0);
  t.is(await setup({ offPath: false }).pub.offPathSettled(100), 'off');
});
