/**
 * Access-log mode over a file, the flow log (envoy/envoy-flow-log.yaml, identity.source jwt, xds.pins routes,
 * extProc.accessLogLagMs 1500, extProc.flowLog): no ext_proc and no gRPC access log; presencelb follows the JSON
 * lines Envoy's file logger writes. The flows are those of access-log-mode.test.ts: a short request recorded whole,
 * a 3 s stream opened by its periodic entry and closed by its final one, an abort ended stream_error, and a NOTIFY
 * sent while an unreported stream was open decided reconnect. The rig's rotateBytes is small, so presencelb rotates
 * the file through Envoy's admin interface every few entries: no flow is lost across rotations.
 */
import test from 'ava';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { FLOW_LOG_BOOTSTRAP } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', bootstrap: FLOW_LOG_BOOTSTRAP, extProc: { accessLogLagMs: 1500 }, xds: { pins: 'routes' }, flowLog: { rotateBytes: 4096 } });
});
test.after.always(async () => {
  await rig?.stop();
});

const auth = (user: string) => ({ authorization: `Bearer ${rig.token({ sub: user })}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function noneOpen(flows: number): Promise<void> {
  await waitFor(`no open flow after ${flows} flows (last: ${JSON.stringify(rig.counts())})`, () => {
    const c = rig.counts();
    return c !== null && c.flowsTotal >= flows && c.openFlows === 0 && c.openStreams === 0;
  }, 10000);
}

test.serial('presencelb asked Envoy how often it writes the file: every 50 ms, often enough', async (t) => {
  const line = await waitFor('the flush check', () => rig.plb.lines.find((l) => l.msg === 'flow log: Envoy writes it often enough'), 10000);
  t.like(line, { fileFlushIntervalMs: 50, path: rig.flowLogPath });
});

test.serial('a request is recorded whole when it ends; a 3 s stream is open from its periodic entry until it ends; an abort ends stream_error', async (t) => {
  const user = randomUUID();
  const t0 = Date.now();
  const r = await rig.get('/hello', { as: user });
  t.is(r.status, 200);
  const register = await rig.plb.waitForEvent(user, 'register', 10000);
  t.true(Date.parse(register.time as string) >= t0, 'presencelb heard of the user from the flow log, after the request');
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const [first] = await waitFor('the first flow', async () => {
    const f = await rig.flowsOf(user);
    return f.length === 1 && f[0].ended_at !== null ? f : null;
  });
  t.is(first.end_reason, 'completed');
  t.true(first.started_at >= t0 - 5 && first.started_at <= first.ended_at, 'started at the entry’s start time');
  t.truthy(first.app_server, 'the upstream that served it');

  const startedAt = Date.now();
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=3`, { headers: auth(user) });
  await sleep(600);
  t.is((await rig.flowsOf(user)).length, 1, 'not reported yet: Envoy logs a stream still open after 1 s');
  await waitFor('the stream’s periodic entry', async () => (await rig.flowsOf(user)).some((f: any) => f.ended_at === null), 3000);
  const open = (await rig.flowsOf(user)).find((f: any) => f.ended_at === null);
  t.true(Math.abs(open.started_at - startedAt) < 500, 'opened with the stream’s start time, not the entry’s');
  await res.text();
  const ended = await waitFor('the stream’s flow ended', async () => (await rig.flowsOf(user)).find((f: any) => f.id === open.id && f.ended_at !== null));
  t.is(ended.end_reason, 'completed');
  t.true(ended.ended_at - ended.started_at > 2900, `lasted ${ended.ended_at - ended.started_at} ms`);
  t.is((await rig.flowsOf(user)).length, 2, 'one flow for the stream, however many periodic entries');

  const ac = new AbortController();
  const pending = fetch(`${rig.envoy.listenerUrl}/slow?delay_ms=4000`, { headers: auth(user), signal: ac.signal });
  await waitFor('the slow request’s flow', async () => (await rig.flowsOf(user)).length === 3, 4000);
  ac.abort();
  t.is((await pending.then(() => null, (e: unknown) => e as Error))?.name, 'AbortError');
  await waitFor('the aborted flow ended', async () => (await rig.flowsOf(user)).some((f: any) => f.end_reason === 'stream_error'));
  t.deepEqual((await rig.flowsOf(user)).map((f: any) => f.end_reason), ['completed', 'completed', 'stream_error']);
  await noneOpen(3);
});

test.serial('the file is rotated through Envoy’s admin interface as it grows, and no flow is lost', async (t) => {
  const user = randomUUID();
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const rotatedBefore = rig.plb.lines.filter((l) => l.msg === 'flow log rotated: asking Envoy to reopen it').length;
  const n = 60; // about 250 bytes a line: several files of 4 KiB
  for (let i = 0; i < n; i++) t.is((await rig.get(`/hello?i=${i}`, { as: user })).status, 200);
  const flows = await waitFor(`all ${n + 1} flows`, async () => {
    const f = await rig.flowsOf(user);
    return f.length >= n + 1 ? f : null;
  }, 10000);
  t.is(flows.length, n + 1, 'one flow per request, none twice');
  t.true(flows.every((f: any) => f.end_reason === 'completed'));
  const rotations = rig.plb.lines.filter((l) => l.msg === 'flow log rotated: asking Envoy to reopen it').length - rotatedBefore;
  t.true(rotations >= 2, `rotated ${rotations} times`);
  t.true(fs.statSync(rig.flowLogPath!).size < 16 * 1024, 'the file Envoy writes now is a new one');
  t.false(rig.plb.lines.some((l) => (l as { code?: string }).code === 'FLOW_LOG_MALFORMED'), 'no line was cut');
  await noneOpen(n + 1);
});

test.serial('a NOTIFY sent while a stream not yet in the flow log was open: the decision waits for it and reconnects the user', async (t) => {
  const user = randomUUID();
  const device = await rig.device(user);
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  await waitFor('the baseline NOTIFY', () => rig.plb.events(user).includes('receive_notification'));
  await sleep(1500); // past graceMs (1 s): the first request no longer counts as in use
  const res = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=4`, { headers: auth(user) });
  t.is(res.status, 200);
  await sleep(200);
  t.is((await rig.flowsOf(user)).filter((f: any) => f.ended_at === null).length, 0, 'Envoy has not reported the stream yet');
  await device.publish('closed', 'went offline');
  const identify = await rig.plb.waitForEvent(user, 'identify', 10000);
  t.is(identify.branch, 'reconnect', String(identify.reason));
  await rig.plb.waitForEvent(user, 'reconnect_message', 10000);
  t.false(rig.plb.events(user).includes('purge'));
  await res.text();
  await noneOpen(2);
});
