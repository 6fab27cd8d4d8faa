/** AccessLogReceiver: an entry ends its own user's open flow, and corrects the flow's server from the upstream that served it. */
import test from 'ava';
import type { FlowEndReason } from '../core/ports.ts';
import { MemoryLogger } from '../core/testing/fakes.ts';
import type { UserId } from '../core/user-id.ts';
import { AccessLogReceiver, type WireHttpLogEntry } from './access-log.ts';
import type { IdentitySettings } from './identity.ts';
import { OpenFlows } from './open-flows.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const HEADER: IdentitySettings = { source: 'header', header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' };

function rig(appServer: string | null) {
  const open = new OpenFlows();
  open.open('r1', { flowId: 'f1', user: U, appServer, startedAt: 1000 });
  const events: string[] = [];
  const log = new MemoryLogger();
  const receiver = new AccessLogReceiver({
    identity: HEADER,
    open,
    now: () => 9999,
    log,
    serverByCluster: new Map([['app-a', 'app-a'], ['app-b', 'app-b']]),
    serverByAddress: new Map([['127.0.0.1:8081', 'app-a'], ['127.0.0.1:8082', 'app-b']]),
    flows: {
      flowStarted: () => undefined,
      flowUpstream: (id, _u, server) => events.push(`upstream ${id} ${server}`),
      flowEnded: (id, _u, at, reason: FlowEndReason) => events.push(`ended ${id} ${at} ${reason}`),
    },
  });
  return { receiver, events, open, log };
}

const entry = (cp: WireHttpLogEntry['common_properties'], user: string = U): WireHttpLogEntry => ({
  common_properties: { start_time: { seconds: 1, nanos: 0 }, duration: { seconds: 2 }, ...cp },
  request: { request_id: 'r1', request_headers: [{ key: 'x-user-id', value: user }] } as never,
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

test('an upstream that is no configured server is logged and changes nothing; another user cannot end the flow', (t) => {
  const r = rig('app-a');
  t.false(r.receiver.onEntry(entry({ upstream_cluster: 'app-b' }, '11111111-2222-4333-8444-555555555555')));
  t.deepEqual(r.events, []);
  r.receiver.onEntry(entry({ upstream_remote_address: { socket_address: { address: '10.9.9.9', port_value: 80 } }, upstream_cluster: 'elsewhere' }));
  t.deepEqual(r.events, ['ended f1 3000 completed']);
  t.true(r.log.lines.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'UNKNOWN_APP_SERVER'));
});
