/**
 * Claim 1, reconnect branch, end to end: a user whose flow is open when the presence server sends the NOTIFY gets
 * a MESSAGE carrying their UUID through Kamailio, and a route update that brings their next requests to the same
 * application server. Run for each xds.pins mode by reconnect.test.ts (header: ext_proc sets the pin header, the
 * steering route xDS served sends it there) and reconnect-routes.test.ts (routes: one route per pinned user, pushed
 * over xDS, ACKed by Envoy).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { startStack, type Stack } from './stack.ts';

export function reconnectScenario(pins: 'header' | 'routes'): void {
  let stack: Stack;
  test.before(async () => {
    stack = await startStack({ graceMs: 1000, pins });
  });
  test.after.always(async () => {
    await stack?.stop();
  });

  test(`an active user is brought back: MESSAGE with the UUID, route update (${pins === 'header' ? 'pin header set by ext_proc' : 'per-user route ACKed by Envoy'}), same server after`, async (t) => {
    const user = randomUUID();
    const device = await stack.device(user);

    // A long-lived request: 12 chunks 300 ms apart, open while the presence change happens.
    const streaming = fetch(`${stack.envoy.listenerUrl}/stream?chunks=12&intervalMs=300`, { headers: { 'x-user-id': user } });
    const res = await streaming;
    t.is(res.status, 200);
    const servedBy = res.headers.get('x-app-server');
    t.truthy(servedBy);
    await stack.plb.waitForEvent(user, 'subscribe');
    await waitFor('the baseline NOTIFY', () => stack.plb.events(user).includes('receive_notification'));

    // The user's own device publishes a new status: Kamailio NOTIFYs presencelb.
    await device.publish('closed', 'went offline');
    const message = await device.waitForMessage(undefined, 10000);
    const routeUpdate = await stack.plb.waitForEvent(user, 'route_update');
    await res.text(); // let the long-lived flow finish

    // The MESSAGE carries the UUID as a parameter, in a header and in the body.
    t.regex((message.headers['x-presencelb-reconnect'] ?? []).join(), new RegExp(`uuid=${user}`));
    t.is(JSON.parse(message.body).uuid, user);
    t.is(JSON.parse(message.body).applicationServer, servedBy);

    // Every step of the claim, in the claim's order.
    const steps = stack.plb.events(user);
    t.deepEqual(steps.slice(0, 4), ['register', 'notify', 'provide_access', 'subscribe']);
    const order = ['subscribe', 'receive_notification', 'identify', 'route_update', 'reconnect_message'];
    let last = -1;
    for (const s of order) {
      const i = steps.indexOf(s, last + 1);
      t.true(i > last, `${s} after ${order[order.indexOf(s) - 1] ?? 'start'} in ${steps.join(',')}`);
      last = i;
    }
    const identify = stack.plb.lines.find((l) => l.user === user && l.event === 'claim.identify');
    t.is(identify?.branch, 'reconnect');

    const version = routeUpdate.version as string;
    if (pins === 'routes') {
      // Envoy ACKed the update and applied it: config_dump shows that version with the user's route.
      const dump = await waitFor('Envoy to apply the route update', async () => {
        const d = await stack.envoy.configDump('resource=dynamic_route_configs');
        const cfg = d.configs?.find((c: any) => c.version_info === version);
        return cfg ?? null;
      });
      const routes = dump.route_config.virtual_hosts.flatMap((v: any) => v.routes);
      const pin = routes.find((r: any) => r.name === `pin:${user}`);
      t.truthy(pin, 'the pinned route is in Envoy');
      t.is(pin.route.cluster, servedBy);
    } else {
      // The update is the pin table's (ext_proc reads it); the route it relies on is in Envoy, from xDS, and no route
      // names the user.
      t.regex(version, /^pins-\d+$/);
      const d = await stack.envoy.configDump('resource=dynamic_route_configs');
      const routes = d.configs[0].route_config.virtual_hosts.flatMap((v: any) => v.routes);
      const steering = routes.find((r: any) => r.name === `pinned-to:${servedBy}`);
      t.truthy(steering, 'the steering route for the server is in Envoy');
      t.is(steering.route.cluster, servedBy);
      t.deepEqual(steering.match.headers[0].name, 'x-presencelb-pin');
      t.false(JSON.stringify(d).includes(user), 'no route names the user');
    }

    // The user's next requests all land on the same application server; another user still spreads.
    for (let i = 0; i < 10; i++) {
      const r = await stack.get('/next', user);
      t.is(r.body.server, servedBy);
      t.is(r.body.pin, pins === 'header' ? servedBy : null, 'the pin header is set by presencelb only in header mode');
    }
    // Another user still spreads, even one who sends a pin header of their own (Envoy removes it).
    const other = randomUUID();
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await stack.get('/spread', other, { 'x-presencelb-pin': servedBy! });
      seen.add(r.body.server);
      t.is(r.body.pin, null);
    }
    t.is(seen.size, 2, 'an unpinned user reaches both servers');

    // The database recorded the flows, the decision and the route update in force: written behind, in batches a
    // second apart (store/write-behind.ts), so each table is read once the user's rows are in.
    // A flows row is a stream or a span of several (its `streams`); other tables hold a row each.
    const stored = (table: string, atLeast: number) =>
      waitFor(`the user's ${table} in the database`, async () => {
        const rows = await stack.db(table).where('user_id', user);
        const n = table === 'flows' ? rows.reduce((s: number, f: any) => s + Number(f.streams), 0) : rows.length;
        return n >= atLeast && rows;
      });
    const flows = await stored('flows', 11);
    t.true(flows.every((f: any) => f.app_server === servedBy));
    const decisions = await stored('decisions', 1);
    t.is(decisions[0]?.branch, 'reconnect');
    t.is((await stored('pins', 1)).length, 1);
  });
}
