/**
 * The configuration schema: one YAML file, validated once at start-up (see load.ts), then frozen and passed down
 * through constructors. Every field has a default suitable for a single machine, so an empty file is valid.
 */
import { z } from 'zod';
import { DEFAULT_GONE_ACTIVITIES, DEFAULT_IDLE_GONE_AFTER_MS } from '../core/presence-change.ts';
import { FLOW_LOG_FLUSH_MS } from '../dataplane/flow-log.ts';

const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be 0-65535');

/** A server's TLS material; with clientCaFile, clients must present a certificate it signed (mutual TLS). */
const tlsSchema = z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1), clientCaFile: z.string().min(1).optional() });

/** TlsConfig is one server's TLS section. */
export type TlsConfig = z.infer<typeof tlsSchema>;

const appServer = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, starting with a letter'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
});

/**
 * OFF_PATH_MIN_LAG_MS: with extProc.offPath, the least accessLogLagMs: the bootstraps' access_log_flush_interval (1 s)
 * plus their buffer_flush_interval (50 ms) and a margin. 1500 is recommended.
 */
export const OFF_PATH_MIN_LAG_MS = 1100;

export const configSchema = z.strictObject({
  identity: z
    .strictObject({
      /**
       * source says where a request's user comes from, and must match the Envoy bootstrap: 'jwt' (envoy/envoy.yaml)
       * reads the `sub` of the JWT Envoy verified, from dynamic metadata; 'header' (envoy/envoy-trusted-header.yaml)
       * reads the header below, set by a trusted gateway. See src/dataplane/identity.ts.
       */
      source: z.enum(['jwt', 'header']).default('jwt'),
      /** header carries the user's UUID (source header); with source jwt Envoy sets it from `sub` for the pin routes. */
      header: z.string().regex(/^[a-z0-9-]+$/, 'a lower-case HTTP header name').default('x-user-id'),
      /** jwtMetadataNamespace / jwtPayloadKey locate the verified payload: jwt_authn's filter name, payload_in_metadata. */
      jwtMetadataNamespace: z.string().min(1).default('envoy.filters.http.jwt_authn'),
      jwtPayloadKey: z.string().min(1).default('jwt_payload'),
    })
    .prefault({}),
  extProc: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:18001'),
      /** tls serves ext_proc and the access log service over TLS (envoy/envoy-tls.yaml is the matching bootstrap). */
      tls: tlsSchema.optional(),
      /**
       * accessLogLagMs: how long after an instant Envoy may still report a flow that was open at it; a decision waits
       * this long before it reads the user's flows. 0 with ext_proc (envoy.yaml and its ext_proc variants report
       * each flow at its request headers). With envoy/envoy-access-log.yaml, flows come from the access log only:
       * at least its access_log_flush_interval plus buffer_flush_interval (1 s + 50 ms); 1500 is shipped.
       */
      accessLogLagMs: z.number().int().min(0).max(60000).default(0),
      /**
       * spanHoldMs: about how long the data path's thread may hold a tracked user's completed flows (every request:
       * reported whole in access-log and flow-log modes and for off-path users; seen to start by ext_proc and to end
       * by the access log in blocking and observability modes), folded into spans by lifecycle.flowSpanMs's rule,
       * before it hands them to the lifecycle (src/dataplane/span-hold.ts): one span per user and server per
       * spanHoldMs instead of one message, index entry and row per request (or three: start, server, end). A start
       * still open after 250 ms, a long-lived stream, is handed over then, as open. Decisions do not wait for it:
       * before the identifying step or the end of a reconnect window reads a user's flows, that user's spans and
       * starts are handed over. What it delays: the rows the admin API and the database show, by about this long. At
       * most 5000: the store keeps a span open to new streams for graceMs + 5 s after its end, so a longer hold would
       * cut spans. 0 (or flowSpanMs 0) hands each flow over as it comes.
       */
      spanHoldMs: z.number().int().min(0).max(5000).default(2000),
      /**
       * flowLog: Envoy's file access logger as the access log's transport (src/dataplane/flow-log.ts): the flow log
       * files presencelb reads, one per Envoy, each written with flowLogFormat() by a bootstrap such as
       * envoy/envoy-flow-log.yaml, on this host or a shared volume. Envoy must run with
       * `--file-flush-interval-msec 50` (its default, 10 s, would report flows that late). With envoyAdmin set,
       * presencelb rotates the file after rotateBytes (renames it, POST /reopen_logs); without it, rotate it with
       * logrotate and /reopen_logs: presencelb follows a rotated file as tail -F does. In access-log mode over the
       * flow log (no ext_proc: every flow comes from the file) set accessLogLagMs as envoy/envoy-flow-log.yaml says
       * (1500); with ext_proc reporting each start, 0 is right, so it is checked only with offPath (below).
       */
      flowLog: z
        .strictObject({
          files: z
            .array(
              z.strictObject({
                path: z.string().min(1),
                envoyAdmin: z.string().regex(/^https?:\/\/[^/\s]+\/?$/, 'http://host:port of the Envoy admin interface').optional(),
              }),
            )
            .default([]),
          /** pollMs: how often each file is read; a decision's accessLogLagMs must cover it. */
          pollMs: z.number().int().min(5).max(1000).default(25),
          /** rotateBytes: with envoyAdmin, rotate once a file has this many bytes (0: never). */
          rotateBytes: z.number().int().min(0).default(64 * 1024 * 1024),
        })
        .prefault({}),
      /**
       * offPath takes a user's requests off ext_proc once presencelb grants them at once (a tracked user, nothing to
       * hold or steer): the route table presencelb serves over RDS then gives that user a route with ext_proc
       * disabled (src/xds/resource-types/route.ts), and the access log reports the user's flows, as in access-log
       * mode. A new user's first request still waits for register and notify. Needs xds.pins: routes (no pin header
       * without ext_proc), an accessLogLagMs of at least OFF_PATH_MIN_LAG_MS (flows are reported up to the bootstrap's
       * access_log_flush_interval, 1 s, late) and a bootstrap with that flush interval (envoy/envoy.yaml has it).
       */
      offPath: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** extProcFilter is the name of the ext_proc HTTP filter in Envoy's bootstrap: the per-route config's key. */
          extProcFilter: z.string().min(1).default('envoy.filters.http.ext_proc'),
          /**
           * publishMs: changes to the off-path users are published together, at most this often. Each publish
           * builds and encodes the whole route table: 120–190 ms of CPU with 10,000 off-path users (2.7 MB), and
           * Envoy builds its routes again (about 1.6 s of its main thread at 10,000 users).
           */
          publishMs: z.number().int().min(10).max(60000).default(5000),
        })
        .prefault({}),
    })
    .prefault({}),
  xds: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:18000'),
      /** tls serves ADS and CSDS over TLS (envoy/envoy-tls.yaml is the matching bootstrap). */
      tls: tlsSchema.optional(),
      /** routeConfigName is the RouteConfiguration the Envoy listener asks for over RDS. */
      routeConfigName: z.string().min(1).default('presencelb-routes'),
      /** virtualHostDomains are the Host/authority values the application's virtual host answers. */
      virtualHostDomains: z.array(z.string().min(1)).min(1).default(['*']),
      /**
       * pins picks how a reconnect's route update reaches Envoy (ARCHITECTURE.md, "Route updates"):
       *   header  (default) xDS serves one steering route per application server, matching pinHeader; ext_proc sets
       *           pinHeader to the pinned server's name on each request of a pinned user. A change costs the same
       *           however many users are pinned. Needs ext_proc in blocking mode (every bootstrap but
       *           envoy-observability.yaml and envoy-access-log.yaml).
       *   routes  one route per pinned user, matching the identity header, in the RouteConfiguration pushed over
       *           xDS on every change: works in observability mode, but each change re-sends every pin.
       */
      pins: z.enum(['header', 'routes']).default('header'),
      /** pinHeader is the request header that carries a pinned user's server in pins: header mode; Envoy strips clients' copies. */
      pinHeader: z.string().regex(/^x-[a-z0-9-]+$/, 'a lower-case HTTP header name starting with x-').default('x-presencelb-pin'),
    })
    .prefault({}),
  presence: z
    .strictObject({
      /** wsUrl is the presence server's SIP-over-WebSocket endpoint (RFC 7118); url, when set, replaces it. */
      wsUrl: z.string().regex(/^wss?:\/\/[^\s]+$/, 'a ws:// or wss:// URL').default('ws://127.0.0.1:5066'),
      /** url is the presence server's endpoint; its scheme picks the transport: ws://, wss://, tcp://, tls://. */
      url: z.string().regex(/^(wss?|tcp|tls):\/\/[^\s/]+(\/\S*)?$/, 'a ws://, wss://, tcp:// or tls:// URL').optional(),
      /** caFile is a PEM file of the CA certificates trusted for wss:// and tls:// (default: Node's bundled CAs). */
      caFile: z.string().min(1).optional(),
      /** auth answers the presence server's digest challenges; the password is read once from passwordFile. */
      auth: z.strictObject({ username: z.string().regex(/^[^\s"\\]+$/, 'a user name without spaces or quotes'), passwordFile: z.string().min(1) }).optional(),
      /** domain is the SIP domain of users' and presencelb's URIs. */
      domain: z.string().min(1).default('presencelb.local'),
      registerExpiresSec: z.number().int().min(60).max(86400).default(600),
      publishExpiresSec: z.number().int().min(60).max(86400).default(600),
      subscribeExpiresSec: z.number().int().min(60).max(86400).default(600),
      /** stepTimeoutMs bounds how long a request waits for REGISTER and PUBLISH on a user's first flow. */
      stepTimeoutMs: z.number().int().min(10).max(30000).default(400),
      /**
       * interpretation says when the other parties' presence says the user is gone (ARCHITECTURE.md, "Reading
       * presence"): besides no open tuple, every open tuple naming one of goneActivities (RFC 4480 activity element
       * names), or saying user-input idle for at least idleGoneAfterMs (null: idleness never says gone).
       */
      interpretation: z
        .strictObject({
          goneActivities: z
            .array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'an RPID activity element name, e.g. vacation'))
            .default([...DEFAULT_GONE_ACTIVITIES]),
          idleGoneAfterMs: z.number().int().min(1000).max(30 * 86400000).nullable().default(DEFAULT_IDLE_GONE_AFTER_MS),
        })
        .prefault({}),
    })
    .prefault({}),
  lifecycle: z
    .strictObject({
      /** graceMs: a flow that ended at most this long before the NOTIFY was sent still counts as in use. */
      graceMs: z.number().int().min(0).max(3600000).default(5000),
      /** reconnectWindowMs: how long a reconnect route update stays in force. */
      reconnectWindowMs: z.number().int().min(1000).max(86400000).default(60000),
      /**
       * flowRetentionMs: flows that ended longer ago than this are deleted from the store (every minute). A decision
       * reads the flows that ended within graceMs of its NOTIFY, and the end of a reconnect window those since the
       * window began, so it must exceed both graceMs and reconnectWindowMs by at least two minutes (a minute between
       * runs, and a minute to spare); the admin API shows flows up to this old.
       */
      flowRetentionMs: z.number().int().min(120000).max(30 * 86400000).default(3600000),
      /**
       * flowSpanMs: a user's completed streams to one server, each starting at most graceMs after the one before
       * ended, are stored as one row of flows (a span, their number in `streams`) lasting at most this long; 0 stores
       * a row per stream. Decisions read a span as they read its streams (src/store/flow-spans.ts). The in-memory
       * index folds completed streams the same way whatever this is (memory only; no span length there).
       */
      flowSpanMs: z.number().int().min(0).max(3600000).default(60000),
    })
    .refine((l) => l.flowRetentionMs >= Math.max(l.graceMs, l.reconnectWindowMs) + 120000, {
      message: 'flowRetentionMs must be at least the larger of graceMs and reconnectWindowMs, plus 120000',
      path: ['flowRetentionMs'],
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
  /** admin is the operator's gRPC API (src/admin/), with health checking and server reflection on the same port. */
  admin: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:18002'),
      /** tokenFile holds the bearer token every call but health checks must carry; read once at start, never logged. */
      tokenFile: z.string().min(1).optional(),
      /** tls serves the API over TLS; with clientCaFile, clients must present a certificate it signed (mutual TLS). */
      tls: tlsSchema.optional(),
      /** maxMessageBytes bounds a received message; a larger one is refused with RESOURCE_EXHAUSTED. */
      maxMessageBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(64 * 1024),
    })
    .prefault({}),
  /** metrics serves Prometheus metrics over HTTP at GET /metrics. */
  metrics: z.strictObject({ listen: hostPort.default('127.0.0.1:9464') }).prefault({}),
  /**
   * cpu.policy: 'normal' keeps the scheduling presencelb was started with (scripts/up.sh: nice 10); 'idle' puts it
   * under SCHED_IDLE at start, so Envoy never waits for a core behind it (src/runtime/cpu-policy.ts). Only where
   * nothing on the request path waits for presencelb: flow-log and access-log modes, extProc.offPath.
   */
  cpu: z.strictObject({ policy: z.enum(['normal', 'idle']).default('normal') }).prefault({}),
}).superRefine((c, ctx) => {
  const paths = c.extProc.flowLog.files.map((f) => f.path);
  paths.forEach((p, i) => {
    if (paths.indexOf(p) !== i) ctx.addIssue({ code: 'custom', path: ['extProc', 'flowLog', 'files', i, 'path'], message: `${p} is listed twice (one file per Envoy)` });
  });
  if (!c.extProc.offPath.enabled) return;
  const flowLogLag = 1000 + FLOW_LOG_FLUSH_MS + c.extProc.flowLog.pollMs + 25;
  if (paths.length > 0 && c.extProc.accessLogLagMs < flowLogLag)
    ctx.addIssue({ code: 'custom', path: ['extProc', 'accessLogLagMs'], message: `with extProc.offPath and a flow log polled every ${c.extProc.flowLog.pollMs} ms, at least ${flowLogLag} (1 s periodic entries, Envoy's ${FLOW_LOG_FLUSH_MS} ms file flush, the poll and a margin)` });
  if (c.xds.pins !== 'routes') ctx.addIssue({ code: 'custom', path: ['extProc', 'offPath', 'enabled'], message: 'needs xds.pins: routes (an off-path request never reaches ext_proc, so it cannot carry a pin header)' });
  if (c.extProc.accessLogLagMs < OFF_PATH_MIN_LAG_MS) ctx.addIssue({ code: 'custom', path: ['extProc', 'accessLogLagMs'], message: `with extProc.offPath, at least ${OFF_PATH_MIN_LAG_MS} (off-path flows come from the access log, up to its 1 s flush interval plus a 50 ms batch late)` });
});

/** Config is the validated, frozen configuration. */
export type Config = z.infer<typeof configSchema>;
