/**
 * The configuration schema: one YAML file, validated once at start-up (see load.ts), then frozen and passed down
 * through constructors. Every field has a default suitable for a single machine, so an empty file is valid.
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be 0-65535');

const appServer = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, starting with a letter'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});

export const configSchema = z.strictObject({
  identity: z
    .strictObject({
      /** header is the request header that carries the user's UUID. */
      header: z.string().regex(/^[a-z0-9-]+$/, 'a lower-case HTTP header name').default('x-user-id'),
    })
    .prefault({}),
  extProc: z.strictObject({ listen: hostPort.default('127.0.0.1:18001') }).prefault({}),
  xds: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:18000'),
      /** routeConfigName is the RouteConfiguration the Envoy listener asks for over RDS. */
      routeConfigName: z.string().min(1).default('presencelb-routes'),
      /** virtualHostDomains are the Host/authority values the application's virtual host answers. */
      virtualHostDomains: z.array(z.string().min(1)).min(1).default(['*']),
    })
    .prefault({}),
  presence: z
    .strictObject({
      /** wsUrl is the presence server's SIP-over-WebSocket endpoint (RFC 7118). */
      wsUrl: z.string().regex(/^wss?:\/\/[^\s]+$/, 'a ws:// or wss:// URL').default('ws://127.0.0.1:5066'),
      /** domain is the SIP domain of users' and presencelb's URIs. */
      domain: z.string().min(1).default('presencelb.local'),
      registerExpiresSec: z.number().int().min(60).max(86400).default(600),
      publishExpiresSec: z.number().int().min(60).max(86400).default(600),
      subscribeExpiresSec: z.number().int().min(60).max(86400).default(600),
      /** stepTimeoutMs bounds how long a request waits for REGISTER and PUBLISH on a user's first flow. */
      stepTimeoutMs: z.number().int().min(10).max(30000).default(400),
    })
    .prefault({}),
  lifecycle: z
    .strictObject({
      /** graceMs: a flow that ended at most this long before the NOTIFY was sent still counts as in use. */
      graceMs: z.number().int().min(0).max(3600000).default(5000),
      /** reconnectWindowMs: how long a reconnect route update stays in force. */
      reconnectWindowMs: z.number().int().min(1000).max(86400000).default(60000),
    })
    .prefault({}),
  applicationServers: z
    .array(appServer)
    .min(1)
    .default([
      { name: 'app-a', host: '127.0.0.1', port: 8081 },
      { name: 'app-b', host: '127.0.0.1', port: 8082 },
    ])
    .refine((a) => new Set(a.map((s) => s.name)).size === a.length, 'application server names must be unique'),
  store: z
    .discriminatedUnion('client', [
      z.strictObject({ client: z.literal('sqlite3'), filename: z.string().min(1) }),
      z.strictObject({ client: z.literal('pg'), connection: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL') }),
    ])
    .default({ client: 'sqlite3', filename: './data/presencelb.db' }),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
    .prefault({}),
});

/** Config is the validated, frozen configuration. */
export type Config = z.infer<typeof configSchema>;
