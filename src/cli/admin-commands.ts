/**
 * The operator's commands, over the admin API (src/admin/): `users ls|show|purge|reconnect`, `routes`, `envoys`,
 * `stats`, `events`. Each takes --addr (default 127.0.0.1:18002), --token-file and the TLS options, prints a
 * table (or JSON with --json) and exits 0; a failed call prints `presencelb: <STATUS>: <message>` on stderr and
 * exits 1. The token is read from its file once and sent only to the API.
 */
import { readFileSync } from 'node:fs';
import { status, type ServiceError } from '@grpc/grpc-js';
import { InvalidArgumentError, type Command } from 'commander';
import { AdminClient } from '../admin/admin-client.ts';
import { json, shortEnum, table, time } from './output.ts';

/** ConnectionOptions are the options every admin command takes. */
interface ConnectionOptions {
  addr: string;
  tokenFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  tls?: boolean;
  json?: boolean;
}

const DEFAULT_ADDR = '127.0.0.1:18002';
const USER_STATES = ['registering', 'publishing', 'subscribing', 'tracking', 'deciding', 'reconnecting', 'tearing_down', 'degraded'];

function connected(cmd: Command): Command {
  return cmd
    .option('--addr <host:port>', 'admin API address', DEFAULT_ADDR)
    .option('--token-file <file>', 'file holding the bearer token')
    .option('--tls', 'connect over TLS (implied by --ca-file)')
    .option('--ca-file <file>', 'CA certificate to trust for the server (TLS)')
    .option('--cert-file <file>', 'client certificate for mutual TLS')
    .option('--key-file <file>', 'client key for mutual TLS')
    .option('--json', 'print JSON for scripts instead of a table');
}

function client(o: ConnectionOptions): AdminClient {
  const token = o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : null;
  const tls = o.tls || o.caFile || o.certFile ? { caFile: o.caFile, certFile: o.certFile, keyFile: o.keyFile } : null;
  return new AdminClient({ addr: o.addr, token, tls });
}

/** run calls fn with a client, prints what it returns, and turns a failed call into a message and exit status 1. */
async function run(o: ConnectionOptions, fn: (c: AdminClient) => Promise<string>): Promise<void> {
  let c: AdminClient | null = null;
  try {
    c = client(o);
    process.stdout.write(await fn(c));
  } catch (e) {
    process.stderr.write(`presencelb: ${describe(e)}\n`);
    process.exitCode = 1;
  } finally {
    c?.close();
  }
}

/** positive parses a positive integer option value. */
function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

/** describe renders a failed call as `STATUS: message`. */
export function describe(e: unknown): string {
  const se = e as Partial<ServiceError>;
  if (typeof se.code === 'number') return `${status[se.code] ?? se.code}: ${se.details ?? se.message ?? ''}`;
  return e instanceof Error ? e.message : String(e);
}

const userRow = (u: Record<string, any>) => [u.uuid, shortEnum(u.state, 'USER_STATE_'), u.app_server || '-', time(u.created_at), time(u.updated_at)];
const flowRow = (f: Record<string, any>) => [f.id, f.app_server || '-', time(f.started_at), time(f.ended_at) || 'open', f.end_reason || '-', String(f.streams || 1)];
const routeRow = (r: Record<string, any>) => [r.uuid, r.app_server, time(r.created_at), time(r.expires_at)];

/** registerAdminCommands adds the operator's commands to the program. */
export function registerAdminCommands(program: Command): void {
  const users = program.command('users').description('users presencelb tracks (admin API)');

  connected(users.command('ls').description('list tracked users, oldest first'))
    .option('--state <state>', `only users in this state: ${USER_STATES.join(', ')}`)
    .option('--limit <n>', 'stop after n users', positive)
    .action((o: ConnectionOptions & { state?: string; limit?: number }) =>
      run(o, async (c) => {
        const state = o.state ? `USER_STATE_${o.state.toUpperCase()}` : 'USER_STATE_UNSPECIFIED';
        const all: Record<string, any>[] = [];
        let page_token = '';
        do {
          const r = await c.call('ListUsers', { page_size: 500, page_token, state });
          all.push(...r.users);
          page_token = r.next_page_token;
        } while (page_token && (o.limit === undefined || all.length < o.limit));
        const shown = o.limit === undefined ? all : all.slice(0, o.limit);
        return o.json ? json({ users: shown }) : table(['UUID', 'STATE', 'APP SERVER', 'CREATED', 'UPDATED'], shown.map(userRow));
      }),
    );

  connected(users.command('show').argument('<uuid>').description('everything presencelb holds about a user, and why'))
    .action((uuid: string, o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('GetUser', { uuid });
        if (o.json) return json(r);
        const d = r.last_decision;
        const ru = r.route_update;
        const held = (b: boolean) => (b ? 'yes' : 'no');
        return [
          table(['UUID', 'STATE', 'APP SERVER', 'CREATED', 'UPDATED'], [userRow(r.user)]),
          `registered: ${held(r.registered)}   published: ${held(r.published)}   subscribed: ${held(r.subscribed)}\n`,
          `presence: ${r.presence_json || '-'}\n`,
          `route update: ${ru ? `to ${ru.app_server} until ${time(ru.expires_at)}` : 'none'}\n`,
          `last decision: ${d ? `${shortEnum(d.branch, 'BRANCH_')} at ${time(d.decided_at)}: ${d.reason}` : 'none'}\n`,
          `\nrecent flows:\n`,
          table(['FLOW', 'APP SERVER', 'STARTED', 'ENDED', 'END REASON', 'STREAMS'], r.flows.map(flowRow)),
        ].join('');
      }),
    );

  connected(users.command('purge').argument('<uuid>').description("run the claim's teardown branch now: unsubscribe, unpublish, unregister, purge"))
    .action((uuid: string, o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('PurgeUser', { uuid });
        return o.json ? json(r) : table(['TABLE', 'ROWS PURGED'], Object.entries(r.rows as Record<string, string>).map(([k, v]) => [k, String(v)]));
      }),
    );

  connected(users.command('reconnect').argument('<uuid>').description("run the claim's reconnect branch now: MESSAGE and route update"))
    .action((uuid: string, o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('ReconnectUser', { uuid });
        return o.json ? json(r) : table(['UUID', 'APP SERVER', 'CREATED', 'EXPIRES'], [routeRow(r.route_update)]);
      }),
    );

  connected(program.command('routes').description('route updates in force'))
    .action((o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('ListRouteUpdates');
        return o.json ? json(r) : table(['UUID', 'APP SERVER', 'CREATED', 'EXPIRES'], r.route_updates.map(routeRow));
      }),
    );

  connected(program.command('envoys').description('Envoys seen by the xDS server, with versions sent, ACKed and NACKed'))
    .action((o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('ListEnvoys');
        if (o.json) return json(r);
        const rows = r.envoys.flatMap((e: Record<string, any>) =>
          e.types.map((t: Record<string, any>) => [e.node_id, e.cluster, e.connected ? 'yes' : 'no', t.type_url.split('.').pop(), t.sent_version || '-', t.acked_version || '-', t.nacked_version ? `${t.nacked_version}: ${t.nack_detail}` : '-']),
        );
        return table(['NODE', 'CLUSTER', 'CONNECTED', 'TYPE', 'SENT', 'ACKED', 'NACKED'], rows);
      }),
    );

  connected(program.command('stats').description('metrics as named values'))
    .action((o: ConnectionOptions) =>
      run(o, async (c) => {
        const r = await c.call('GetStats');
        const rows = Object.entries(r.counters as Record<string, string>).sort(([a], [b]) => a.localeCompare(b));
        return o.json ? json(r) : table(['NAME', 'VALUE'], rows.map(([k, v]) => [k, String(v)]));
      }),
    );

  connected(program.command('events').description('lifecycle events as they happen'))
    .option('-f, --follow', 'keep streaming until interrupted')
    .option('--seconds <n>', 'without --follow: stream for this long, then exit', positive, 5)
    .option('--user <uuid>', 'only events of this user')
    .action((o: ConnectionOptions & { follow?: boolean; seconds: number; user?: string }) => watch(o));
}

/** watch prints events one per line (JSON lines with --json) until interrupted, or for --seconds. */
function watch(o: ConnectionOptions & { follow?: boolean; seconds: number; user?: string }): Promise<void> {
  let c: AdminClient;
  try {
    c = client(o);
  } catch (e) {
    process.stderr.write(`presencelb: ${describe(e)}\n`);
    process.exitCode = 1;
    return Promise.resolve();
  }
  const stream = c.watchEvents(o.user ?? '');
  return new Promise<void>((resolve) => {
    const stop = () => stream.cancel();
    if (!o.follow) setTimeout(stop, o.seconds * 1000).unref();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    stream.on('data', (e: Record<string, any>) => {
      if (o.json) process.stdout.write(`${JSON.stringify({ ...e, at: time(e.at), detail: e.detail_json ? JSON.parse(e.detail_json) : {} })}\n`);
      else process.stdout.write(`${time(e.at)}  ${e.uuid}  ${e.step}${e.ok ? '' : ` FAILED ${e.code}`}  ${e.detail_json}\n`);
    });
    stream.on('error', (e: ServiceError) => {
      if (e.code !== status.CANCELLED) {
        process.stderr.write(`presencelb: ${describe(e)}\n`);
        process.exitCode = 1;
      }
    });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      c.close();
      resolve();
    };
    // 'close' follows the last event delivered; 'status' (the call's end) guards against a stream never closing.
    stream.on('close', finish);
    stream.on('status', () => setTimeout(finish, 200).unref());
  });
}
