/**
 * Access-log mode over a file, the flow log (envoy/envoy-flow-log.yaml, identity.source jwt, xds.pins routes,
 * extProc.accessLogLagMs 1500, extProc.flowLog): no ext_proc and no gRPC access log; presencelb follows the JSON
 * lines Envoy's file logger writes. The flows are those of access-log-mode.test.ts (the scenarios of _log-mode.ts):
 * a short request recorded whole, a 3 s stream opened by its periodic entry and closed by its final one, an abort
 * ended stream_error, and a NOTIFY sent while an unreported stream was open decided reconnect. The rig's rotateBytes is small, so presencelb rotates
 * the file through Envoy's admin interface every few entries: no flow is lost across rotations.
 */
import test from 'ava';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { FLOW_LOG_BOOTSTRAP } from '../harness/envoy.ts';
import { waitFor } from '../harness/ports.ts';
import { noneOpen, notifyDuringUnreportedStream, wholeOpenAndAborted } from './_log-mode.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt', bootstrap: FLOW_LOG_BOOTSTRAP, extProc: { accessLogLagMs: 1500 }, xds: { pins: 'routes' }, flowLog: { rotateBytes: 4096 } });
});
test.after.always(async () => {
  await rig?.stop();
});

test.serial('presencelb asked Envoy how often it writes the file: every 50 ms, often enough', async (t) => {
  const line = await waitFor('the flush check', () => rig.plb.lines.find((l) => l.msg === 'flow log: Envoy writes it often enough'), 10000);
  t.like(line, { fileFlushIntervalMs: 50, path: rig.flowLogPath });
});

test.serial('a request is recorded whole when it ends; a 3 s stream is open from its periodic entry until it ends; an abort ends stream_error', (t) => wholeOpenAndAborted(t, rig));

test.serial('the file is rotated through Envoy’s admin interface as it grows, and no flow is lost', async (t) => {
  const user = randomUUID();
  t.is((await rig.get('/hello', { as: user })).status, 200);
  await rig.plb.waitForEvent(user, 'subscribe', 10000);
  const rotatedBefore = rig.plb.lines.filter((l) => l.msg === 'flow log rotated: asking Envoy to reopen it').length;
  const rotated = () => rig.plb.lines.filter((l) => l.msg === 'flow log rotated: asking Envoy to reopen it').length - rotatedBefore;
  // About 250 bytes a line: 60 requests fill several files of 4 KiB. Under load Envoy may take a while to reopen,
  // and its lines meanwhile go to the renamed file: requests go on (up to 400) until a second rotation.
  let n = 0;
  while (n < 60 || (rotated() < 2 && n < 400)) t.is((await rig.get(`/hello?i=${n++}`, { as: user })).status, 200);
  await waitFor(`all ${n + 1} flows`, async () => (await rig.streamsOf(user)) >= n + 1, 10000);
  const flows = await rig.flowsOf(user);
  t.is(await rig.streamsOf(user), n + 1, 'every request stored once (one row, or in a span), none twice');
  t.true(flows.length < (n + 1) / 4, `${flows.length} rows for ${n + 1} requests: completed streams share rows (spans)`);
  t.true(flows.every((f: any) => f.end_reason === 'completed'));
  t.true(rotated() >= 2, `rotated ${rotated()} times in ${n} requests`);
  t.true(fs.statSync(rig.flowLogPath!).size < 16 * 1024, 'the file Envoy writes now is a new one');
  t.false(rig.plb.lines.some((l) => (l as { code?: string }).code === 'FLOW_LOG_MALFORMED'), 'no line was cut');
  await noneOpen(rig, n + 1);
});

test.serial('a NOTIFY sent while a stream not yet in the flow log was open: the decision waits for it and reconnects the user', (t) => notifyDuringUnreportedStream(t, rig));
