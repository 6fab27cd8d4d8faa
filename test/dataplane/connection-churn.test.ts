/**
 * One connection from Envoy to presencelb's data path, however many requests. Envoy opens an ext_proc stream per
 * request; if it reset each one once its request was over, presencelb's HTTP/2 server (nghttp2's rapid-reset guard)
 * would answer the 1,001st reset of a burst with GOAWAY, and the ext_proc streams then in flight would fail (those
 * requests let through untracked). The shipped bootstraps make Envoy half-close instead (layered_runtime,
 * ext_proc_graceful_grpc_close), and presencelb ends each stream after its trailers with RST_STREAM NO_ERROR.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'header' });
});
test.after.always(async () => {
  await rig?.stop();
});

const COUNTERS = [
  'cluster.presencelb_ext_proc.upstream_cx_total',
  'cluster.presencelb_ext_proc.upstream_cx_close_notify',
  'cluster.presencelb_ext_proc.upstream_rq_5xx',
  'http.app.ext_proc.streams_started',
  'http.app.ext_proc.streams_failed',
  'http.app.ext_proc.failure_mode_allowed',
];

async function counters(): Promise<Record<string, number>> {
  const s = await rig.envoy.stats('^(cluster\\.presencelb_ext_proc\\.upstream_(cx_total|cx_close_notify|rq_5xx)|http\\.app\\.ext_proc\\.(streams_started|streams_failed|failure_mode_allowed))$');
  return Object.fromEntries(COUNTERS.map((k) => [k, Number(s[k] ?? 0)]));
}

test('2,000 requests in a burst: every one seen by presencelb, on the connection Envoy already had', async (t) => {
  const user = randomUUID();
  const mark0 = rig.mark();
  t.is((await rig.get('/warm', { as: user })).status, 200, "the user's first request (presence set up)");
  await waitFor('the first flow ended', async () => ((await rig.flowsOf(user)).some((f: any) => f.end_reason) ? true : null));
  const mark = (await rig.settled(mark0)).streamsTotal;
  const before = await counters();
  const N = 2000;
  let next = 0;
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < N) {
        next++;
        const r = await rig.get('/burst', { as: user });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }),
  );
  t.deepEqual(Object.fromEntries(statuses), { 200: N });
  const after = await counters();
  const delta = Object.fromEntries(COUNTERS.map((k) => [k.replace(/^.*\.(upstream_|ext_proc\.)/, ''), after[k]! - before[k]!]));
  t.deepEqual(delta, { cx_total: 0, cx_close_notify: 0, rq_5xx: 0, streams_started: N, streams_failed: 0, failure_mode_allowed: 0 }, 'no new connection, no GOAWAY, no failed stream');
  const settled = await rig.settled(mark);
  t.is(settled.streamsTotal - mark, N, 'presencelb saw every stream');
  t.is(settled.openStreams, 0);
});
