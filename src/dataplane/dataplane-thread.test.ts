/** DataplaneThread: the data path in a worker thread, against grpc-js clients speaking Envoy's two services. */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import net from 'node:net';
import type { FlowStart } from '../core/lifecycle.ts';
import type { FlowEndReason, Logger } from '../core/ports.ts';
import type { UserId } from '../core/user-id.ts';
import { serviceClient } from '../protos/envoy.ts';
import { DataplaneThread } from './dataplane-thread.ts';
import { PinTable } from './pin-table.ts';

const U = '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' as UserId;
const identity = { source: 'header' as const, header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' };
const appServers = [
  { name: 'app-a', host: '127.0.0.1', port: 9001 },
  { name: 'app-b', host: '127.0.0.1', port: 9002 },
];

/** Sink is a FlowSink that records what it hears and holds grants until the test releases them. */
class Sink {
  readonly events: string[] = [];
  readonly grants: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  flowStarted(f: FlowStart, grant: () => void): void {
    this.events.push(`start ${f.user} ${f.appServer}${f.held ? ' held' : ''}`);
    this.grants.push(grant);
    this.changed();
  }
  flowUpstream(_id: string, user: UserId, server: string): void {
    this.events.push(`upstream ${user} ${server}`);
    this.changed();
  }
  flowRecorded(f: FlowStart, _at: number, reason: FlowEndReason): void {
    this.events.push(`recorded ${f.user} ${f.appServer} ${reason}${f.streams ? ` x${f.streams}` : ''}`);
    this.changed();
  }
  flowEnded(_id: string, user: UserId, _at: number, reason: FlowEndReason): void {
    this.events.push(`end ${user} ${reason}`);
    this.changed();
  }
  /** until resolves once the sink has heard n events. */
  async until(n: number): Promise<void> {
    while (this.events.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }
  private changed(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const lines: string[] = [];
const log: Logger = { debug: () => undefined, info: (_o, m) => lines.push(`info ${m}`), warn: (_o, m) => lines.push(`warn ${m}`), error: (_o, m) => lines.push(`error ${m}`), child: () => log };

const Processor = serviceClient('envoy.service.ext_proc.v3.ExternalProcessor');
const AccessLog = serviceClient('envoy.service.accesslog.v3.AccessLogService');

interface Answer {
  readonly msgs: Record<string, unknown>[];
  readonly status: grpc.StatusObject;
}

/** process sends one request's headers for user (request id rid) and collects what the server answers. */
function processHeaders(port: number, rid: string, user = U): { answer: Promise<Answer>; answered: () => boolean } {
  const client = new Processor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (client as unknown as { Process(): grpc.ClientDuplexStream<object, Record<string, unknown>> }).Process();
  const msgs: Record<string, unknown>[] = [];
  let done = false;
  const answer = new Promise<Answer>((resolve) => {
    call.on('data', (m) => {
      msgs.push(m);
      call.end(); // as Envoy: its side stays open until the answer (its end alone would finish the stream)
    });
    call.on('error', () => undefined); // the status says it
    call.on('status', (status) => {
      done = true;
      client.close();
      resolve({ msgs, status });
    });
  });
  call.write({
    request_headers: { headers: { headers: [{ key: 'x-user-id', raw_value: Buffer.from(user) }, { key: 'x-request-id', raw_value: Buffer.from(rid) }] } },
    attributes: [{ key: 'envoy.filters.http.ext_proc', value: { fields: [{ key: 'xds.cluster_name', value: { string_value: 'app-a' } }] } }],
  });
  return { answer, answered: () => done };
}

/** logEnd sends the access log entry that ends request rid of user, served by app-b. */
function logEnd(port: number, rid: string, user = U): Promise<void> {
  const client = new AccessLog(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { StreamAccessLogs(cb: (e: Error | null) => void): grpc.ClientWritableStream<object> }).StreamAccessLogs((e) => {
      client.close();
      if (e) reject(e);
      else resolve();
    });
    call.write({
      identifier: { log_name: 'presencelb' },
      http_logs: {
        log_entry: [
          {
            common_properties: { upstream_cluster: 'app-b', start_time: { seconds: Math.floor(Date.now() / 1000) } },
            request: { request_id: rid, request_headers: [{ key: 'x-user-id', value: user }] },
          },
        ],
      },
    });
    call.end();
  });
}

const tick = () => new Promise((r) => setTimeout(r, 50));

/** replaced resolves once a thread other than before runs and accepts connections on port (up to 30 s: its start-up). */
async function replaced(dp: DataplaneThread, before: number, port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (dp.threadId !== -1 && dp.threadId !== before && (await accepts(port))) return;
    await tick();
  }
  throw new Error(`no new data path thread on port ${port} after 30 s`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

test.serial('a new user waits for the lifecycle grant; once granted at once, the thread answers alone; the access log ends the flow', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log });
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    const first = processHeaders(port, 'r1');
    await sink.until(1);
    t.deepEqual(sink.events, [`start ${U} app-a`]);
    await tick();
    t.false(first.answered(), 'the first request waits for its grant');
    sink.grants[0]!();
    const a1 = await first.answer;
    t.is(a1.status.code, grpc.status.OK);
    t.like(a1.msgs[0], { request_headers: { response: { status: 'CONTINUE' } } });
    t.is(dp.openFlows, 1);

    dp.onAccess(U, true);
    const second = await processHeaders(port, 'r2').answer;
    t.like(second.msgs[0], { request_headers: { response: { status: 'CONTINUE' } } }, 'answered without waiting for the sink');
    await sink.until(2);
    t.is(dp.openFlows, 2);

    await logEnd(port, 'r1');
    await sink.until(4);
    t.deepEqual(sink.events.slice(2), [`upstream ${U} app-b`, `end ${U} completed`]);
    t.is(dp.openFlows, 1);

    await logEnd(port, 'r-unseen');
    await sink.until(5);
    t.is(sink.events[4], `recorded ${U} app-b completed`, 'a flow nobody saw start comes whole, in one event');
    t.is(dp.openFlows, 1);

    dp.onAccess(U, false);
    const third = processHeaders(port, 'r3');
    await sink.until(6);
    await tick();
    t.false(third.answered(), 'no longer granted at once: waits again');
    sink.grants[2]!();
    t.is((await third.answer).status.code, grpc.status.OK);
  } finally {
    await dp.stop(100);
  }
  t.is(dp.threadId, -1);
});

test.serial('flow events wait in the thread up to batchMs; settle() brings every one the thread holds', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, batchMs: 60000 });
  dp.onAccess(U, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    t.like((await processHeaders(port, 's1').answer).msgs[0], { request_headers: { response: { status: 'CONTINUE' } } });
    await logEnd(port, 's1');
    await tick();
    t.deepEqual(sink.events, [], 'held in the thread');
    await dp.settle();
    t.deepEqual(sink.events, [`start ${U} app-a`, `upstream ${U} app-b`, `end ${U} completed`]);
    const other = '11111111-2222-4333-8444-555555555555' as UserId;
    const waiting = processHeaders(port, 's2', other);
    await sink.until(4);
    t.is(sink.events[3], `start ${other} app-a`, 'a start waiting for its grant is not held');
    sink.grants[1]!();
    t.is((await waiting.answer).status.code, grpc.status.OK);
  } finally {
    await dp.stop(100);
  }
  await dp.settle();
  t.pass('settle with no thread resolves at once');
});

test.serial('with spanHold, a tracked user\'s completed flows wait folded in the thread: settle for the user, losing the grant or stop releases them', async (t) => {
  const sink = new Sink();
  const V = '11111111-2222-4333-8444-555555555555' as UserId;
  const dp = new DataplaneThread({ identity, appServers, log, spanHold: { gapMs: 5000, spanMs: 60000, holdMs: 60000 } });
  dp.onAccess(U, true);
  dp.onAccess(V, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  let stopped = false;
  try {
    for (const rid of ['h1', 'h2', 'h3']) await logEnd(port, rid);
    await logEnd(port, 'v1', V);
    await tick();
    t.deepEqual(sink.events, [], 'held in the thread');
    await dp.settle({ readFlows: false, user: V });
    t.deepEqual(sink.events, [`recorded ${V} app-b completed x1`], 'settle for V releases only V\'s (marked held)');
    await dp.settle({ readFlows: false, user: U });
    t.deepEqual(sink.events.slice(1), [`recorded ${U} app-b completed x3`], 'three flows as one span');

    await logEnd(port, 'h4');
    await tick();
    t.is(sink.events.length, 2);
    dp.onAccess(U, false);
    await sink.until(3);
    t.is(sink.events[2], `recorded ${U} app-b completed x1`, 'released when the user is no longer granted at once');
    await logEnd(port, 'h5');
    await sink.until(4);
    t.is(sink.events[3], `recorded ${U} app-b completed`, 'a user not granted at once is not held (nor marked)');

    await logEnd(port, 'v2', V);
    await logEnd(port, 'v3', V);
    await tick();
    t.is(sink.events.length, 4);
    await dp.stop(100);
    stopped = true;
    t.deepEqual(sink.events.slice(4), [`recorded ${V} app-b completed x2`], 'stop releases what is held');
  } finally {
    if (!stopped) await dp.stop(100);
  }
});

test.serial('with spanHold, a tracked user\'s start seen by ext_proc waits in the thread: ended, it is one held flow; still open at a settle, a start marked held, and its end follows', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, spanHold: { gapMs: 5000, spanMs: 60000, holdMs: 60000 } });
  dp.onAccess(U, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    t.like((await processHeaders(port, 'e1').answer).msgs[0], { request_headers: { response: { status: 'CONTINUE' } } }, 'granted at once');
    await logEnd(port, 'e1');
    t.is(dp.openFlows, 0);
    await tick();
    t.deepEqual(sink.events, [], 'start, upstream and end held in the thread');
    await dp.settle({ readFlows: false, user: U });
    t.deepEqual(sink.events, [`recorded ${U} app-b completed x1`], 'one flow, with the server the access log named');

    await processHeaders(port, 'e2').answer;
    await tick();
    t.is(sink.events.length, 1);
    await dp.settle({ readFlows: false, user: U });
    t.deepEqual(sink.events.slice(1), [`start ${U} app-a held`], 'open at the settle: its start, marked held');
    await logEnd(port, 'e2');
    await sink.until(4);
    t.deepEqual(sink.events.slice(2), [`upstream ${U} app-b`, `end ${U} completed`]);
    t.is(dp.openFlows, 0, 'nothing open is left behind');
  } finally {
    await dp.stop(100);
  }
});

test.serial('with spanHold, held spans are released after holdMs without a settle', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, spanHold: { gapMs: 5000, spanMs: 60000, holdMs: 1500 } });
  dp.onAccess(U, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    const t0 = Date.now();
    await logEnd(port, 'd1');
    await logEnd(port, 'd2');
    await tick();
    t.deepEqual(sink.events, []);
    await sink.until(1);
    const waited = Date.now() - t0;
    t.is(sink.events[0], `recorded ${U} app-b completed x2`);
    // d1 was held after t0, and a span waits holdMs at least (checked every holdMs / 8).
    t.true(waited >= 1500 && waited < 5000, `released after ${waited} ms`);
  } finally {
    await dp.stop(100);
  }
});

test('with reportLagMs (access-log mode), settle waits that long before a read of flows, and not before a teardown', async (t) => {
  const dp = new DataplaneThread({ identity, appServers, log, reportLagMs: 300 });
  let t0 = Date.now();
  await dp.settle();
  t.true(Date.now() - t0 >= 295, `a read of flows waited ${Date.now() - t0} ms`);
  t0 = Date.now();
  await dp.settle({ readFlows: true });
  t.true(Date.now() - t0 >= 295);
  t0 = Date.now();
  await dp.settle({ readFlows: false });
  t.true(Date.now() - t0 < 200, `a teardown waited ${Date.now() - t0} ms`);
});

test.serial('a pinned user is steered by the pin table the main thread changes', async (t) => {
  const sink = new Sink();
  const pins = new PinTable({ servers: ['app-a', 'app-b'] });
  const dp = new DataplaneThread({ identity, appServers, log, pinHeader: 'x-presencelb-pin' });
  dp.onAccess(U, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink, pins });
  try {
    t.like((await processHeaders(port, 'p1').answer).msgs[0], { request_headers: { response: { status: 'CONTINUE' } } });
    await pins.pin({ user: U, appServer: 'app-b', createdAt: 1, expiresAt: Date.now() + 60000 });
    await tick();
    const steered = (await processHeaders(port, 'p2').answer).msgs[0] as { request_headers: { response: { header_mutation: { set_headers: { header: { key: string; raw_value: Buffer } }[] }; clear_route_cache: boolean } } };
    const set = steered.request_headers.response.header_mutation.set_headers[0]!.header;
    t.is(set.key, 'x-presencelb-pin');
    t.is(Buffer.from(set.raw_value).toString(), 'app-b');
    t.true(steered.request_headers.response.clear_route_cache);
    await sink.until(2);
    t.deepEqual(sink.events, [`start ${U} app-a`, `start ${U} app-b`], 'the pinned flow is recorded with the pinned server');
  } finally {
    await dp.stop(100);
  }
});

test.serial('a thread that dies has its open flows ended, and a new one serves on the same port', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, restartDelayMs: 50 });
  dp.onAccess(U, true);
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    await processHeaders(port, 'k1').answer;
    await sink.until(1);
    const before = dp.threadId;
    await dp.kill();
    await sink.until(2);
    t.deepEqual(sink.events, [`start ${U} app-a`, `end ${U} presencelb_restart`]);
    t.is(dp.openFlows, 0);
    await replaced(dp, before, port);
    const answer = await processHeaders(port, 'k2').answer;
    t.like(answer.msgs[0], { request_headers: { response: { status: 'CONTINUE' } } }, 'the new thread knows the user is granted at once');
    t.true(lines.includes('error data path thread exited: flows it had open are ended; a new one starts'));
  } finally {
    await dp.stop(100);
  }
});

test.serial('a grant that comes after its thread was replaced releases nobody', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, restartDelayMs: 50 });
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  try {
    const first = processHeaders(port, 'g1');
    await sink.until(1);
    const before = dp.threadId;
    await dp.kill();
    await sink.until(2); // its flow ended by the restart
    await replaced(dp, before, port);
    const other = '11111111-2222-4333-8444-555555555555' as UserId;
    const second = processHeaders(port, 'g2', other);
    await sink.until(3);
    t.is(sink.events[2], `start ${other} app-a`, 'the new thread asks for the other user, ticket 1 again');
    sink.grants[0]!(); // the first user's grant, late
    await tick();
    await tick();
    t.false(second.answered(), 'the other user is still waiting for its own grant');
    sink.grants[1]!();
    t.is((await second.answer).status.code, grpc.status.OK);
    await first.answer;
  } finally {
    await dp.stop(100);
  }
});

test.serial('a restart that cannot listen is retried, and stop() ends the retries', async (t) => {
  const sink = new Sink();
  const dp = new DataplaneThread({ identity, appServers, log, restartDelayMs: 100 });
  const port = await dp.start({ listen: '127.0.0.1:0', flows: sink });
  await dp.kill();
  while (dp.threadId !== -1) await tick();
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    const failures = () => lines.filter((l) => l === 'error data path thread could not restart').length;
    const seen = failures();
    while (failures() < seen + 2) await tick();
    await dp.stop(100);
    const after = failures();
    await new Promise((r) => setTimeout(r, 1000));
    t.is(failures(), after, 'no attempt after stop()');
    t.is(dp.threadId, -1);
  } finally {
    await new Promise((r) => squatter.close(r));
  }
});

test.serial('a port already taken: start rejects with the error, and nothing keeps running', async (t) => {
  const first = new DataplaneThread({ identity, appServers, log });
  const port = await first.start({ listen: '127.0.0.1:0', flows: new Sink() });
  try {
    const second = new DataplaneThread({ identity, appServers, log });
    await t.throwsAsync(second.start({ listen: `127.0.0.1:${port}`, flows: new Sink() }), { code: 'EADDRINUSE' });
    await second.stop(10);
    t.is(second.threadId, -1);
  } finally {
    await first.stop(100);
  }
});
