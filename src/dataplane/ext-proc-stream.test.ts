import test from 'ava';
import type { FlowEndReason } from '../core/ports.ts';
import type { FlowStart } from '../core/lifecycle.ts';
import { ManualClock, MemoryLogger } from '../core/testing/fakes.ts';
import { ProcessStream, type WireProcessingRequest } from './ext-proc-stream.ts';
import type { IdentitySettings } from './identity.ts';
import { OpenFlows } from './open-flows.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50';
const HEADER: IdentitySettings = { source: 'header', header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' };

function rig(opts: { grantNow?: boolean; pinned?: Record<string, string> } = {}) {
  const written: object[] = [];
  const started: FlowStart[] = [];
  const ended: { id: string; reason: FlowEndReason }[] = [];
  const grants: (() => void)[] = [];
  const ends: number[] = [];
  const open = new OpenFlows();
  const stream = new ProcessStream(
    {
      identity: HEADER,
      open,
      clock: new ManualClock(),
      log: new MemoryLogger(),
      ...(opts.pinned ? { pins: { serverFor: (u: string) => opts.pinned![u] }, pinHeader: 'x-presencelb-pin' } : {}),
      serverByCluster: new Map([['app-a', 'app-a']]),
      flows: {
        flowStarted: (f, grant) => {
          started.push(f);
          if (opts.grantNow !== false) grant();
          else grants.push(grant);
        },
        flowUpstream: () => undefined,
        flowEnded: (id, _u, _at, reason) => ended.push({ id, reason }),
        flowRecorded: (f, _at, reason) => ended.push({ id: `recorded ${f.id}`, reason }),
      },
    },
    { write: (m) => written.push(m), end: () => ends.push(written.length) },
  );
  return { stream, written, started, ended, grants, open, ends };
}

const requestHeaders = (observe = false): WireProcessingRequest => ({
  request_headers: { headers: { headers: [{ key: 'x-user-id', raw_value: Buffer.from(U) }, { key: 'x-request-id', raw_value: Buffer.from('r1') }] } },
  ...(observe ? { observability_mode: true } : {}),
});

test('a valid request: flow started, CONTINUE once granted, then the stream is ended; its end ends no flow', (t) => {
  const r = rig({ grantNow: false });
  r.stream.onMessage(requestHeaders());
  t.is(r.started.length, 1);
  t.deepEqual(r.written, [], 'nothing before the grant');
  t.deepEqual(r.ends, []);
  r.grants[0]!();
  t.deepEqual(r.written, [{ request_headers: { response: { status: 'CONTINUE' } } }]);
  t.deepEqual(r.ends, [1], 'ended once, after the answer');
  t.is(r.stream.state, 'handed_over');
  r.stream.onMessage({ response_headers: { headers: { headers: [] } } });
  t.deepEqual(r.written[1], { response_headers: { response: {} } }, 'a message Envoy sends anyway is answered unchanged');
  r.stream.onEnd();
  t.deepEqual(r.ended, [], 'the access log ends the flow');
  t.is(r.open.size, 1);
});

test('the stream ends before the grant (message_timeout, client gone): the flow stays open for the access log', (t) => {
  const r = rig({ grantNow: false });
  r.stream.onMessage(requestHeaders());
  r.stream.onEnd();
  t.is(r.stream.state, 'detached');
  t.deepEqual(r.ended, []);
  t.is(r.open.size, 1);
  r.grants[0]!();
  t.deepEqual(r.written, [], 'a late grant writes nothing');
  t.deepEqual(r.ends, []);
});

test('observability mode: the flow is recorded, nothing is ever written back, the stream is ended', (t) => {
  const r = rig();
  r.stream.onMessage(requestHeaders(true));
  r.stream.onMessage({ response_headers: { headers: { headers: [] } }, observability_mode: true });
  t.is(r.started.length, 1);
  t.deepEqual(r.written, []);
  t.deepEqual(r.ends, [0]);
  const bad = rig();
  bad.stream.onMessage({ request_headers: { headers: { headers: [] } }, observability_mode: true });
  t.is(bad.stream.state, 'rejected');
  t.deepEqual(bad.written, [], 'no immediate response either');
  t.deepEqual(bad.ends, [0]);
  t.is(bad.started.length, 0);
});

test('an invalid identity: a 400 immediate response without headers, no flow', (t) => {
  const r = rig();
  r.stream.onMessage({ request_headers: { headers: { headers: [{ key: 'x-user-id', raw_value: Buffer.from('alice') }] } } });
  t.is(r.stream.state, 'rejected');
  t.is(r.started.length, 0);
  const [m] = r.written as { immediate_response: { status: unknown; headers?: unknown; body: Buffer } }[];
  t.deepEqual(m!.immediate_response.status, { code: 'BadRequest' });
  t.is(m!.immediate_response.headers, undefined);
  t.is(JSON.parse(m!.immediate_response.body.toString()).error, 'IDENTITY_MALFORMED');
  t.deepEqual(r.ends, [1], 'the stream ends after the immediate response');
});

test('a pinned user: CONTINUE sets the pin header to the server and clears the route cache; the flow is on that server', (t) => {
  const r = rig({ pinned: { [U]: 'app-b' } });
  r.stream.onMessage({ ...requestHeaders(), attributes: { 'envoy.filters.http.ext_proc': { fields: { 'xds.cluster_name': { string_value: 'app-a' } } } } });
  t.is(r.started[0]!.appServer, 'app-b', 'the steering route, not the cluster Envoy chose first, serves it');
  t.deepEqual(r.written, [
    {
      request_headers: {
        response: {
          status: 'CONTINUE',
          header_mutation: { set_headers: [{ header: { key: 'x-presencelb-pin', raw_value: Buffer.from('app-b') }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
          clear_route_cache: true,
        },
      },
    },
  ]);
});

test('an unpinned user, and any user in observability mode: plain CONTINUE (or nothing), no header', (t) => {
  const other = rig({ pinned: { '11111111-2222-4333-8444-555555555555': 'app-b' } });
  other.stream.onMessage(requestHeaders());
  t.deepEqual(other.written, [{ request_headers: { response: { status: 'CONTINUE' } } }]);
  const observed = rig({ pinned: { [U]: 'app-b' } });
  observed.stream.onMessage(requestHeaders(true));
  t.deepEqual(observed.written, []);
  t.is(observed.started[0]!.appServer, null, 'Envoy applies no answer in observability mode: the pin cannot steer');
});
