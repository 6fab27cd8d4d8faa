/**
 * presencelb crashes (SIGKILL) and is started again on the same ports, config file and SQLite database while users'
 * requests keep flowing through Envoy, over state-of-the-world and over delta ADS:
 * - every request succeeds: Envoy keeps its configuration while the control plane is away (and ext_proc's
 *   failure_mode_allow lets requests by);
 * - a user pinned before the crash is still pinned after it (pins are restored from the store), and Envoy's
 *   config_dump shows the same route version, which CSDS on the new process reports as SYNCED;
 * - the new process holds Envoy's requests until its first snapshot: nothing, least of all an empty
 *   configuration, is sent before; over delta nothing at all is sent, Envoy already holding every version.
 */
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { serviceClient } from '../../src/protos/envoy.ts';
import { CSDS_SERVICE } from '../../src/xds/csds.ts';
import { TRUSTED_HEADER_BOOTSTRAP } from '../harness/envoy.ts';
import { deltaVariant } from '../harness/envoy-delta.ts';
import { waitFor } from '../harness/ports.ts';
import type { LogLine } from '../harness/presencelb.ts';
import { startStack, type Stack } from './stack.ts';

/** Traffic sends requests as each user, one after another per user, until stopped, and keeps every answer. */
function traffic(stack: Stack, users: readonly string[]) {
  const answers: { user: string; status: number; server: string | null; at: number }[] = [];
  let running = true;
  const loops = users.map(async (user) => {
    while (running) {
      try {
        const r = await stack.get('/traffic', user);
        answers.push({ user, status: r.status, server: r.body?.server ?? null, at: Date.now() });
      } catch (e) {
        answers.push({ user, status: -1, server: String(e), at: Date.now() });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** routeEntry is Envoy's dynamic route configuration: its version and route names. */
async function routeEntry(stack: Stack): Promise<{ version: string; routes: string[] }> {
  const dump = await stack.envoy.configDump('resource=dynamic_route_configs');
  const c = dump.configs?.[0];
  return { version: c?.version_info, routes: (c?.route_config?.virtual_hosts ?? []).flatMap((v: any) => v.routes.map((r: any) => r.name)) };
}

/** csdsRoutes asks presencelb's CSDS (on the xDS port) for the node's route configuration entry. */
async function csdsRoutes(xdsPort: number, nodeId: string): Promise<any> {
  const client: any = new (serviceClient(CSDS_SERVICE))(`127.0.0.1:${xdsPort}`, credentials.createInsecure());
  try {
    const res: any = await new Promise((resolve, reject) => client.FetchClientStatus({ node_matchers: [{ node_id: { exact: nodeId } }] }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))));
    return res.config?.[0]?.generic_xds_configs?.find((g: any) => g.name === 'presencelb-routes');
  } finally {
    client.close();
  }
}

async function crashAndRestart(t: ExecutionContext, protocol: 'sotw' | 'delta'): Promise<void> {
  const bootstrap = protocol === 'delta' ? deltaVariant(TRUSTED_HEADER_BOOTSTRAP) : TRUSTED_HEADER_BOOTSTRAP;
  // Per-user routes (xds.pins: routes): the pin is part of the xDS configuration Envoy keeps while presencelb is away.
  const stack = await startStack({ graceMs: 1000, reconnectWindowMs: 120000, envoyBootstrap: bootstrap, pins: 'routes' });
  try {
    const xdsPort = Number(stack.plb.lines.find((l) => l.msg === 'presencelb ready')?.xdsPort);

    // A user in the middle of a long-lived request whose presence changes is pinned (the claim's reconnect branch).
    const user = randomUUID();
    const device = await stack.device(user);
    const res = await fetch(`${stack.envoy.listenerUrl}/stream?chunks=12&intervalMs=300`, { headers: { 'x-user-id': user } });
    const servedBy = res.headers.get('x-app-server')!;
    await stack.plb.waitForEvent(user, 'subscribe');
    await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
    await device.publish('closed', 'went offline');
    const routeUpdate = await stack.plb.waitForEvent(user, 'route_update');
    await res.text();
    const version = routeUpdate.version as string;
    await waitFor('Envoy to apply the pin', async () => (await routeEntry(stack)).version === version);
    t.true((await routeEntry(stack)).routes.includes(`pin:${user}`));
    t.like(await csdsRoutes(xdsPort, stack.envoy.nodeId), { version_info: version, config_status: 'SYNCED', client_status: 'ACKED' });

    // Requests flow as the pinned user and as another user while presencelb is killed and started again.
    const other = randomUUID();
    const load = traffic(stack, [user, other]);
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    const first = stack.plb;
    const second = await stack.restartPresencelb('SIGKILL');
    const readyAt = Date.now();
    t.not(second, first);
    t.is(second.configFile, first.configFile);
    await waitFor('Envoy to reconnect and ACK the restored configuration', async () => (await csdsRoutes(xdsPort, stack.envoy.nodeId))?.config_status === 'SYNCED', 60000);
    const syncedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    const answers = await load.stop();
    t.log(`${protocol}: presencelb down ${readyAt - killedAt} ms, Envoy in sync again after ${syncedAt - killedAt} ms; ${answers.length} requests`);

    const failed = answers.filter((a) => a.status !== 200);
    if (failed.length > 0) t.log(stack.envoy.logs().split('\n').filter((l) => /" [45]\d\d /.test(l)).join('\n'));
    t.deepEqual(failed, [], 'every request succeeded');
    t.true(answers.filter((a) => a.at > killedAt && a.at < readyAt).length >= 5, 'requests were served while presencelb was down');
    t.deepEqual([...new Set(answers.filter((a) => a.user === user).map((a) => a.server))], [servedBy], 'the pinned user stayed on their server');

    // After the restart: the same pin, at the same route version, in Envoy and in presencelb's view.
    const after = await routeEntry(stack);
    t.is(after.version, version, 'config_dump shows the same route version');
    t.true(after.routes.includes(`pin:${user}`), 'the pin survived the crash');
    t.like(await csdsRoutes(xdsPort, stack.envoy.nodeId), { version_info: version, config_status: 'SYNCED', client_status: 'ACKED' });
    t.is((await stack.db('pins').where('user_id', user)).length, 1);

    // What the new process sent: nothing before its first snapshot; over delta, nothing at all.
    const lines: LogLine[] = second.lines;
    const publishedAt = lines.findIndex((l) => l.msg === 'snapshot published');
    const sent = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.component === 'xds' && l.msg === 'sent');
    t.true(publishedAt >= 0);
    t.true(sent.every(({ i }) => i > publishedAt), 'nothing was sent before the first snapshot');
    t.true(sent.every(({ l }) => Number(l.resources) > 0 || Number(l.removed) > 0), 'no empty configuration was sent');
    if (protocol === 'delta') t.deepEqual(sent.map(({ l }) => l.kind), [], 'Envoy held every version: nothing resent');
    else t.deepEqual(sent.map(({ l }) => l.kind), ['CDS', 'EDS', 'RDS'], 'state of the world: every type once, same versions');
    t.true(lines.some((l) => l.msg === 'state restored from the store' && Number(l.pins) === 1));
  } finally {
    await stack.stop();
  }
}

test.serial('SIGKILL and restart under traffic, state-of-the-world ADS: no failed request, the pin and its route version survive', (t) => crashAndRestart(t, 'sotw'));
test.serial('SIGKILL and restart under traffic, delta ADS: no failed request, the pin survives, nothing is resent', (t) => crashAndRestart(t, 'delta'));

test.serial('SIGKILL and restart with xds.pins: header: while presencelb is away the pin lapses (failure_mode_allow), after the restart it is restored from the store', async (t) => {
  const stack = await startStack({ graceMs: 1000, reconnectWindowMs: 120000 });
  try {
    const user = randomUUID();
    const device = await stack.device(user);
    const res = await fetch(`${stack.envoy.listenerUrl}/stream?chunks=8&intervalMs=300`, { headers: { 'x-user-id': user } });
    const servedBy = res.headers.get('x-app-server')!;
    await stack.plb.waitForEvent(user, 'subscribe');
    await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));
    await device.publish('closed', 'went offline');
    await stack.plb.waitForEvent(user, 'route_update');
    await res.text();
    const routesBefore = await routeEntry(stack);
    t.true(routesBefore.routes.includes(`pinned-to:${servedBy}`));
    t.is((await stack.get('/before', user)).body.pin, servedBy);

    const second = await stack.restartPresencelb('SIGKILL');
    t.true(second.lines.some((l) => l.msg === 'state restored from the store' && Number(l.pins) === 1));
    // The steering routes are the same configuration as before: same version, nothing per user.
    await waitFor('Envoy to be in sync with the new process', async () => (await routeEntry(stack)).version === routesBefore.version);
    for (let i = 0; i < 6; i++) {
      const r = await stack.get('/after', user);
      t.is(r.status, 200);
      t.is(r.body.server, servedBy, 'the restored pin steers the user again');
      t.is(r.body.pin, servedBy);
    }
  } finally {
    await stack.stop();
  }
});
