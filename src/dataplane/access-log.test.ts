/**
 * AccessLogReceiver: an entry ends its own user's open flow and corrects the flow's server from the upstream that
 * served it; an entry of a flow not seen to start records it whole; a periodic entry opens a flow still open.
 */
import test from 'ava';
import type { FlowEndReason } from '../core/ports.ts';
import { MemoryLogger } from '../core/testing/fakes.ts';
import type { UserId } from '../core/user-id.ts';
import { AccessLogReceiver, type WireHttpLogEntry } from './access-log.ts';
import type { IdentitySettings } from './identity.ts';
import { OpenFlows } from './open-flows.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const HEADER: IdentitySettings = { source: 'header', header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' };

function rig(appServer: string | null, clock = { now: 9999 }) {
  const open = new OpenFlows();
  open.open('r1', { flowId: 'f1', user: U, appServer, startedAt: 1000 });
  const events: string[] = [];
  const log = new MemoryLogger();
  const receiver = new AccessLogReceiver({
    identity: HEADER,
    open,
    now: () => clock.now,
    log,
    serverByCluster: new Map([['app-a', 'app-a'], ['app-b', 'app-b']]),
    serverByAddress: new Map([['127.0.0.1:8081', 'app-a'], ['127.0.0.1:8082', 'app-b']]),
    flows: {
      flowStarted: (f) => events.push(`started ${f.user === U ? 'U' : f.user} ${f.appServer} ${f.startedAt}`),
      flowUpstream: (id, _u, server) => events.push(`upstream ${id} ${server}`),
      flowEnded: (id, _u, at, reason: FlowEndReason) => events.push(`ended ${id} ${at} ${reason}`),
      flowRecorded: (f, at, reason) => events.push(`recorded ${f.user === U ? 'U' : f.user} ${f.appServer} ${f.startedAt} ${at} ${reason} ${f.id}`),
    },
  });
  return { receiver, events, open, log };
}

/** entry is an access log entry of request requestId naming user (a final one started at 1 s lasting 2 s, unless cp says otherwise). */
const entry = (cp: WireHttpLogEntry['common_properties'], user: string = U, requestId = 'r1'): WireHttpLogEntry => ({
  common_properties: { start_time: { seconds: 1, nanos: 0 }, duration: { seconds: 2 }, ...cp },
  request: { request_id: requestId, request_headers: [{ key: 'x-user-id', value: user }] } as never,
});

test('the flow ends at start + duration; the same server as at its start changes nothing else', (t) => {
  const r = rig('app-a');
  t.true(r.receiver.onEntry(entry({ upstream_remote_address: { socket_address: { address: '127.0.0.1', port_value: 8081 } } })));
  t.deepEqual(r.events, ['ended f1 3000 completed']);
  t.is(r.open.size, 0);
});

test('another configured server served the stream: the flow is moved to it before it ends', (t) => {
  const byAddress = rig('app-a');
  byAddress.receiver.onEntry(entry({ upstream_remote_address: { socket_address: { address: '127.0.0.1', port_value: 8082 } }, upstream_cluster: 'app-a' }));
  t.deepEqual(byAddress.events, ['upstream f1 app-b', 'ended f1 3000 completed'], 'the address wins over the cluster');
  const byCluster = rig(null);
  byCluster.receiver.onEntry(entry({ upstream_cluster: 'app-b', response_flags: { upstream_remote_reset: true } }));
  t.deepEqual(byCluster.events, ['upstream f1 app-b', 'ended f1 3000 stream_error']);
});

test('an upstream that is no configured server is logged and changes nothing', (t) => {
  const r = rig('app-a');
  r.receiver.onEntry(entry({ upstream_remote_address: { socket_address: { address: '10.9.9.9', port_value: 80 } }, upstream_cluster: 'elsewhere' }));
  t.deepEqual(r.events, ['ended f1 3000 completed']);
  t.true(r.log.lines.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'UNKNOWN_APP_SERVER'));
});

test("another user's entry with the same request id cannot end the flow: it is that user's own flow, recorded whole", (t) => {
  const r = rig('app-a');
  const other = '11111111-2222-4333-8444-555555555555';
  t.true(r.receiver.onEntry(entry({ upstream_cluster: 'app-b' }, other)));
  t.is(r.events.length, 1);
  t.regex(r.events[0]!, new RegExp(`^recorded ${other} app-b 1000 3000 completed [0-9a-f-]{36}$`));
  t.not(r.events[0]!.split(' ')[6], 'f1');
  t.is(r.open.size, 1, "the first user's flow is still open");
});

test('an entry of a flow presencelb did not see start (untracked, or access-log mode) records it whole', (t) => {
  const r = rig('app-a');
  t.true(r.receiver.onEntry(entry({ upstream_cluster: 'app-b', response_flags: { downstream_remote_reset: true } }, U, 'r2')));
  t.is(r.events.length, 1, 'one call: started and ended');
  t.regex(r.events[0]!, /^recorded U app-b 1000 3000 stream_error [0-9a-f-]{36}$/);
  t.is(r.open.size, 1, 'r1 untouched');
});

test('a periodic entry opens the flow of a stream still open; later ones change nothing; the final entry closes it', (t) => {
  const r = rig('app-a');
  const long = (cp: WireHttpLogEntry['common_properties']) => entry({ start_time: { seconds: 5 }, duration: { seconds: 1 }, upstream_cluster: 'app-a', ...cp }, U, 'long');
  t.true(r.receiver.onEntry(long({ access_log_type: 'DownstreamPeriodic' })));
  t.deepEqual(r.events, ['started U app-a 5000']);
  t.is(r.open.size, 2);
  t.false(r.receiver.onEntry(long({ access_log_type: 5 })), 'the same stream, a second later (type as a number)');
  t.false(r.receiver.onEntry(long({ access_log_type: 'NotSet', intermediate_log_entry: true })), 'flagged intermediate');
  t.is(r.events.length, 1);
  t.true(r.receiver.onEntry(long({ access_log_type: 'DownstreamEnd', duration: { seconds: 90 } })));
  t.regex(r.events[1]!, /^ended [0-9a-f-]{36} 95000 completed$/);
  t.is(r.open.size, 1);
});

test('an entry without a valid identity or a request id changes nothing', (t) => {
  const r = rig('app-a');
  t.false(r.receiver.onEntry(entry({}, 'not-a-uuid')));
  t.false(r.receiver.onEntry(entry({}, `${U}\r\nx-evil: 1`)));
  t.false(r.receiver.onEntry({ common_properties: {}, request: { request_headers: [{ key: 'x-user-id', value: U }] } as never }));
  t.deepEqual(r.events, []);
  t.is(r.open.size, 1);
});

test('an entry of a request no application server served records nothing: Envoy answered it itself, maybe before any filter', (t) => {
  const r = rig('app-a');
  const local = (cp: WireHttpLogEntry['common_properties']) => entry({ start_time: { seconds: 5 }, duration: { seconds: 0 }, response_flags: {}, ...cp }, U, 'forged');
  t.false(r.receiver.onEntry(local({})), 'final, no upstream');
  t.false(r.receiver.onEntry(local({ access_log_type: 'DownstreamPeriodic' })), 'periodic, no upstream');
  t.deepEqual(r.events, []);
  t.is(r.open.size, 1);
});

test('only the Downstream types that say a stream is open or ended count; a DownstreamStart entry (before any filter) does not', (t) => {
  const r = rig('app-a');
  for (const type of ['DownstreamStart', 'UpstreamPoolReady', 'UpstreamPeriodic', 'UpstreamEnd', 'TcpConnectionEnd', 4, 9, 42]) {
    t.false(r.receiver.onEntry(entry({ upstream_cluster: 'app-a', access_log_type: type }, U, 'x')), String(type));
  }
  t.deepEqual(r.events, []);
  t.true(r.receiver.onEntry(entry({ upstream_cluster: 'app-a', access_log_type: 'DownstreamEnd' })), 'DownstreamEnd ends r1');
  t.deepEqual(r.events, ['ended f1 3000 completed']);
});

test("another user's stream under the same request id neither hides nor ends a user's open stream", (t) => {
  const r = rig('app-a');
  const other = '11111111-2222-4333-8444-555555555555';
  const shared = (user: string, type = 'DownstreamPeriodic') => entry({ start_time: { seconds: 7 }, duration: { seconds: 1 }, access_log_type: type, upstream_cluster: 'app-b' }, user, 'shared');
  t.true(r.receiver.onEntry(shared(other)), "the other user's stream opens first");
  t.true(r.receiver.onEntry(shared(U)), "the user's own stream is opened all the same");
  t.deepEqual(r.events, [`started ${other} app-b 7000`, 'started U app-b 7000']);
  t.is(r.open.size, 3);
  t.true(r.receiver.onEntry(shared(other, 'DownstreamEnd')));
  t.is(r.open.size, 2, "only the other user's flow ended");
  t.truthy(r.open.peek('shared', U));
});

test('a flow periodic entries opened is ended at its last entry once they stop coming (the final entry was lost); one still beating is not', async (t) => {
  const clock = { now: 100_000 };
  const r = rig('app-a', clock);
  const periodic = (requestId: string) => entry({ start_time: { seconds: 99 }, duration: { seconds: 1 }, access_log_type: 'DownstreamPeriodic', upstream_cluster: 'app-a' }, U, requestId);
  r.receiver.onEntry(periodic('lost'));
  r.receiver.onEntry(periodic('alive'));
  for (let s = 1; s <= 13; s++) {
    clock.now = 100_000 + s * 1000;
    r.receiver.onEntry(periodic('alive'));
    if (s <= 2) r.receiver.onEntry(periodic('lost'));
    r.receiver.expire();
  }
  // 'lost' was last seen at 102,000; at 113,000 more than EXPIRE_MIN_MS (10 s) had passed.
  const ended = r.events.filter((e) => e.startsWith('ended'));
  t.is(ended.length, 1, JSON.stringify(r.events));
  t.regex(ended[0]!, /^ended [0-9a-f-]{36} 102000 stream_error$/);
  t.truthy(r.open.peek('alive', U));
  t.is(r.open.peek('lost', U), null);
  t.true(r.log.lines.some((l) => l.level === 'warn' && /periodic entries stopped/.test(l.msg ?? '')));
  // If that stream was in fact still open, its next periodic entry opens it again.
  t.true(r.receiver.onEntry(periodic('lost')));
  t.truthy(r.open.peek('lost', U));
  // A flow ext_proc opened (r1) has no heartbeat and is never expired.
  clock.now += 3_600_000;
  r.receiver.onEntry(periodic('alive'));
  r.receiver.expire();
  t.truthy(r.open.peek('r1', U));
});

test('a final entry ends a flow periodic entries opened, and nothing expires it afterwards', (t) => {
  const clock = { now: 50_000 };
  const r = rig('app-a', clock);
  const e = (type: string) => entry({ start_time: { seconds: 49 }, duration: { seconds: 3 }, access_log_type: type, upstream_cluster: 'app-a' }, U, 'long');
  r.receiver.onEntry(e('DownstreamPeriodic'));
  r.receiver.onEntry(e('DownstreamEnd'));
  clock.now += 60_000;
  t.is(r.receiver.expire(), 0);
  t.is(r.events.filter((x) => x.startsWith('ended')).length, 1);
  t.regex(r.events[1]!, / 52000 completed$/);
});
