/**
 * The Prometheus endpoint after a scenario on the running system, with the user's device as a separate SIP user
 * agent (test/harness/sip-device.ts): one user is reconnected (a flow open when their presence changes) and one torn
 * down (idle past the grace period). /metrics must show exactly the counts that scenario produces; then a reconnect
 * MESSAGE the device refuses shows as a SIP transaction error and a failed decision.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import type { UserId } from '../../src/core/user-id.ts';
import { parseExposition, type Series } from '../harness/exposition.ts';
import { waitFor } from '../harness/ports.ts';
import { startSipDevice } from '../harness/sip-device.ts';
import { DOMAIN, startStack, type Stack } from '../system/stack.ts';
import { client } from './helpers.ts';

let stack: Stack;
test.before(async () => {
  stack = await startStack({ graceMs: 500 });
});
test.after.always(async () => {
  await stack?.stop();
});

async function scrape(): Promise<Series[]> {
  const r = await fetch(stack.metricsUrl);
  if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
  return parseExposition(await r.text());
}

/** value is the sample of name with exactly these labels, 0 when absent (a counter never incremented). */
function value(all: Series[], name: string, labels: Record<string, string> = {}): number {
  const s = all.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  return s?.value ?? 0;
}

const series = (all: Series[], name: string) => all.filter((x) => x.name === name);

async function tracked(user: UserId): Promise<void> {
  await stack.plb.waitForEvent(user, 'subscribe');
  await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
}

test.serial('after one reconnect and one teardown, /metrics shows exactly what they did', async (t) => {
  // The reconnect: a long-lived request is open when the user's device goes offline.
  const r = randomUUID() as UserId;
  const rDevice = await stack.device(r);
  const stream = await fetch(`${stack.envoy.listenerUrl}/stream?chunks=10&intervalMs=300`, { headers: { 'x-user-id': r } });
  t.is(stream.status, 200);
  await tracked(r);
  const during = await scrape();
  t.is(value(during, 'presencelb_active_flows'), 1, 'the open stream is an active flow');
  await rDevice.publish('closed', 'went offline');
  await stack.plb.waitForEvent(r, 'reconnect_message');
  await stream.text();

  // The teardown: one short request, then the device goes offline after the grace period.
  const d = randomUUID() as UserId;
  const dDevice = await stack.device(d);
  t.is((await stack.get('/hello', d)).status, 200);
  await tracked(d);
  await waitFor('the flow end', async () => (await stack.db('flows').where('user_id', d).whereNotNull('ended_at')).length === 1);
  await new Promise((res) => setTimeout(res, 700));
  await dDevice.publish('closed');
  await stack.plb.waitForEvent(d, 'purge');
  await waitFor('every flow ended', async () => (await stack.db('flows').whereNull('ended_at')).length === 0);
  await waitFor('Envoy to ACK every push', async () => {
    const m = await scrape();
    return value(m, 'presencelb_xds_pushes_total', { type: 'RDS' }) === value(m, 'presencelb_xds_acks_total', { type: 'RDS' });
  });

  const m = await scrape();
  t.deepEqual(
    series(m, 'presencelb_decisions_total').map((s) => [s.labels, s.value]),
    [
      [{ branch: 'reconnect', outcome: 'completed' }, 1],
      [{ branch: 'teardown', outcome: 'completed' }, 1],
    ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) as never,
  );
  t.is(value(m, 'presencelb_notify_to_decision_seconds_count'), 2, 'both decisions followed a NOTIFY');
  t.true(value(m, 'presencelb_notify_to_decision_seconds_sum') < 2, 'decided within a second or so each');
  for (const [step, n] of [['register', 2], ['notify', 2], ['provide_access', 2], ['identify', 2], ['reconnect_message', 1], ['route_update', 1], ['unsubscribe', 1], ['unpublish', 1], ['unregister', 1], ['purge', 1]] as const) {
    t.is(value(m, 'presencelb_claim_steps_total', { step, result: 'ok' }), n, step);
  }
  t.deepEqual(series(m, 'presencelb_claim_steps_total').filter((s) => s.labels.result === 'failed'), [], 'no step failed');
  t.is(value(m, 'presencelb_tracked_users'), 1, 'the reconnected user is still tracked, the other is gone');
  t.is(value(m, 'presencelb_active_flows'), 0);
  t.is(value(m, 'presencelb_xds_connected_envoys'), 1);
  const rdsPushes = value(m, 'presencelb_xds_pushes_total', { type: 'RDS' });
  // xds.pins: header (the default): the route update is the pin table's, not an xDS push; the steering routes came
  // with the first snapshot.
  t.is(rdsPushes, 1, `the first snapshot only: ${rdsPushes} RDS pushes`);
  for (const push of series(m, 'presencelb_xds_pushes_total')) {
    t.true(value(m, 'presencelb_xds_acks_total', push.labels) >= 1, `${push.labels.type} pushed and ACKed`);
  }
  t.deepEqual(series(m, 'presencelb_xds_nacks_total'), [], 'no NACK');
  t.deepEqual(series(m, 'presencelb_sip_transaction_errors_total'), [], 'no SIP transaction failed');
  // Decisions, pins and purges are written behind, in batches (store/write-behind.ts): the database sees batches.
  t.true(value(m, 'presencelb_store_operation_seconds_count', { operation: 'applyWrites', result: 'ok' }) >= 1);
  t.deepEqual(series(m, 'presencelb_store_operation_seconds_count').filter((s) => s.labels.result !== 'ok'), [], 'no store operation failed');
  t.true(value(m, 'process_cpu_seconds_total') > 0, 'process metrics too');
});

test.serial('a reconnect MESSAGE the device refuses counts as a SIP transaction error with its status, and a failed decision', async (t: ExecutionContext) => {
  const e = randomUUID() as UserId;
  const device = await startSipDevice({ wsUrl: stack.kamailio!.wsUrl, domain: DOMAIN, user: e, messageStatus: 486 });
  t.teardown(() => device.stop());
  t.is((await stack.get('/hello', e)).status, 200);
  await tracked(e);
  const r = await client(t, { addr: stack.adminAddr }).call('ReconnectUser', { uuid: e });
  t.is(r.route_update.uuid, e, 'the route update is in force even though the MESSAGE was refused');
  await device.waitForMessage(undefined, 10000);
  const m = await scrape();
  t.is(value(m, 'presencelb_sip_transaction_errors_total', { method: 'sendReconnect', code: 'PRESENCE_REJECTED', status: '486' }), 1);
  t.is(value(m, 'presencelb_claim_steps_total', { step: 'reconnect_message', result: 'failed' }), 1);
  t.is(value(m, 'presencelb_decisions_total', { branch: 'reconnect', outcome: 'failed' }), 1);
  t.is(value(m, 'presencelb_notify_to_decision_seconds_count'), 2, 'an operator’s decision is not a NOTIFY’s');
});

test.serial('/metrics answers only GET and HEAD at /metrics', async (t) => {
  t.is((await fetch(stack.metricsUrl.replace('/metrics', '/other'))).status, 404);
  t.is((await fetch(stack.metricsUrl, { method: 'POST' })).status, 405);
  const head = await fetch(stack.metricsUrl, { method: 'HEAD' });
  t.is(head.status, 200);
  t.regex(head.headers.get('content-type') ?? '', /^text\/plain/);
});
