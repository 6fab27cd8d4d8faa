/**
 * docker-compose.yml and what it uses, checked without a Docker engine: docker-compose (Debian's 1.29) validates
 * the file for both profiles; every mounted and built-from path exists; the compose Envoy bootstrap passes
 * `envoy --mode validate`, is what deploy/envoy/render-bootstrap.mjs renders from envoy/envoy.yaml, and differs
 * from it only where compose needs it; both compose presencelb configurations pass `presencelb config check`; and
 * the addresses and ports the files name agree with each other.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { flowLogFormat } from '../../src/dataplane/flow-log.ts';
import { validateBootstrap } from '../harness/envoy.ts';
import {
  argAfter,
  buildsOf,
  clusterOf,
  COMPOSE_FILE,
  configCheck,
  copySources,
  dockerignoreExcludes,
  endpointOf,
  envWithoutOverrides,
  fileLoggerOf,
  ipv4InCidr,
  MISSING_COMPOSE,
  mountsOf,
  portOf,
  readYaml,
  ROOT,
  run,
  type Obj,
} from './compose-file.ts';

const COMPOSE_BOOTSTRAP = 'deploy/envoy/envoy.yaml';
const FLOW_LOG_BOOTSTRAP = 'deploy/envoy/envoy-flow-log.yaml';
const SQLITE_CONFIG = 'deploy/presencelb/presencelb.yaml';
const POSTGRES_CONFIG = 'deploy/presencelb/presencelb.postgres.yaml';
const FLOW_LOG_CONFIG = 'deploy/presencelb/presencelb.flow-log.yaml';
/** PRESENCELB_CLUSTERS are the static clusters of a bootstrap that reach presencelb (the flow log's has no ext_proc). */
const PRESENCELB_CLUSTERS = ['presencelb_xds', 'presencelb_ext_proc'] as const;
/** FLOWS_VOLUME is the named volume Envoy writes the flow log to and presencelb reads it from. */
const FLOWS_VOLUME = 'presencelb-flows';

/** Rendering is an entry of deploy/envoy/render-bootstrap.mjs's BOOTSTRAPS. */
interface Rendering {
  source: string;
  target: string;
  flowLogPath?: string;
}
/** RenderModule is what deploy/envoy/render-bootstrap.mjs (plain JavaScript) exports and these tests use. */
interface RenderModule {
  BOOTSTRAPS: Rendering[];
  renderComposeBootstrap(sourceText: string, b?: Rendering): string;
}
const renderModule = async () => (await import(pathToFileURL(path.join(ROOT, 'deploy/envoy/render-bootstrap.mjs')).href)) as RenderModule;

const compose = () => readYaml('docker-compose.yml');
const services = () => compose().services as Record<string, Obj>;

/** composeConfig runs `docker-compose -f docker-compose.yml [--profile p] config [-q]` from the root. */
function composeConfig(opts: { profile?: string | undefined; quiet?: boolean; env?: Record<string, string> }) {
  const args = ['-f', COMPOSE_FILE, ...(opts.profile ? ['--profile', opts.profile] : []), 'config', ...(opts.quiet ? ['-q'] : [])];
  return run('docker-compose', args, envWithoutOverrides(opts.env));
}

const hostOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));

const VARIANTS: readonly { title: string; profile?: string; env: Record<string, string>; configFile: string; bootstrap: string; postgres: boolean }[] = [
  { title: 'default services', env: {}, configFile: 'presencelb.yaml', bootstrap: 'envoy.yaml', postgres: false },
  { title: "profile 'postgres' with PRESENCELB_CONFIG", profile: 'postgres', env: { PRESENCELB_CONFIG: 'presencelb.postgres.yaml' }, configFile: 'presencelb.postgres.yaml', bootstrap: 'envoy.yaml', postgres: true },
  {
    title: 'the flow log: ENVOY_BOOTSTRAP and PRESENCELB_CONFIG',
    env: { ENVOY_BOOTSTRAP: 'envoy-flow-log.yaml', PRESENCELB_CONFIG: 'presencelb.flow-log.yaml' },
    configFile: 'presencelb.flow-log.yaml',
    bootstrap: 'envoy-flow-log.yaml',
    postgres: false,
  },
];
for (const variant of VARIANTS) {
  test(`docker-compose validates docker-compose.yml (${variant.title})`, (t) => {
    const quiet = composeConfig({ profile: variant.profile, quiet: true, env: variant.env });
    if (quiet.missing) return t.fail(MISSING_COMPOSE);
    t.is(quiet.status, 0, `docker-compose config -q failed:\n${quiet.stderr}`);
    const full = composeConfig({ profile: variant.profile, env: variant.env });
    t.is(full.status, 0, full.stderr);
    const resolved = YAML.parse(full.stdout) as Obj;
    t.deepEqual(resolved.services.presencelb.command, ['serve', '-c', `/etc/presencelb/${variant.configFile}`]);
    t.true(fs.existsSync(path.join(ROOT, 'deploy/presencelb', variant.configFile)), `deploy/presencelb/${variant.configFile} exists`);
    t.is(argAfter(resolved.services.envoy.command, '-c'), `/etc/envoy/${variant.bootstrap}`);
    t.true(fs.existsSync(path.join(ROOT, 'deploy/envoy', variant.bootstrap)), `deploy/envoy/${variant.bootstrap} exists`);
    if (variant.postgres) t.truthy(resolved.services.postgres, 'the postgres service is there');
  });
}

test('services, published ports, profiles and start order', (t) => {
  const s = services();
  t.deepEqual(Object.keys(s).sort(), ['app-a', 'app-b', 'envoy', 'kamailio', 'postgres', 'presencelb']);
  t.deepEqual(s.postgres!.profiles, ['postgres']);
  for (const [name, def] of Object.entries(s)) {
    if (name !== 'postgres') t.is(def.profiles, undefined, `${name} runs without a profile`);
    // Every image names its version (a tag), never :latest.
    if (def.image) t.regex(def.image, /:[\w.-]+$/, `${name} pins an image tag`);
    t.not(def.image?.endsWith(':latest'), true, `${name} does not use :latest`);
  }
  t.deepEqual(s.envoy!.ports, ['10000:10000', '127.0.0.1:9901:9901'], 'users reach 10000; admin on the host loopback only');
  for (const name of ['presencelb', 'kamailio', 'app-a', 'app-b', 'postgres']) t.is(s[name]!.ports, undefined, `${name} publishes nothing`);
  t.deepEqual(Object.keys(s.envoy!.depends_on), ['presencelb']);
  t.deepEqual(Object.keys(s.presencelb!.depends_on).sort(), ['app-a', 'app-b', 'kamailio']);
  t.is(s.presencelb!.depends_on.postgres, undefined, 'no dependency on a service of an inactive profile');
  for (const [name, def] of Object.entries(s)) t.truthy(def.healthcheck?.test, `${name} has a healthcheck`);
});

test('every bind-mounted host path exists and is read-only; every named volume is declared', (t) => {
  const c = compose();
  const { binds, named } = mountsOf(c);
  t.true(binds.length >= 5, 'envoy, presencelb, kamailio, app-a and app-b mount files from the repository');
  for (const b of binds) {
    t.false(path.isAbsolute(b.source), `${b.service}: ${b.source} is relative to the repository`);
    t.true(fs.existsSync(path.join(ROOT, b.source)), `${b.service} mounts ${b.source}, which must exist`);
    t.true(b.readOnly, `${b.service} mounts ${b.source} read-only`);
  }
  for (const v of named) t.true(Object.hasOwn(c.volumes ?? {}, v.volume), `${v.service} mounts volume ${v.volume}, declared at the top`);
  t.deepEqual(named.map((v) => `${v.service}:${v.volume}`).sort(), ['envoy:presencelb-flows', 'postgres:postgres-data', 'presencelb:presencelb-data', 'presencelb:presencelb-flows']);
});

test('every build context, Dockerfile and COPY source exists and is inside its build context', (t) => {
  const builds = buildsOf(compose());
  t.deepEqual(builds.map((b) => b.service).sort(), ['kamailio', 'presencelb']);
  for (const b of builds) {
    t.true(fs.statSync(path.join(ROOT, b.context), { throwIfNoEntry: false })?.isDirectory() ?? false, `${b.service}: context ${b.context} is a directory`);
    const dockerfile = path.join(ROOT, b.dockerfile);
    t.true(fs.existsSync(dockerfile), `${b.service}: ${b.dockerfile} exists`);
    if (!fs.existsSync(dockerfile)) continue;
    const ignoreFile = path.join(ROOT, b.context, '.dockerignore');
    const ignore = fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : '';
    for (const src of copySources(fs.readFileSync(dockerfile, 'utf8'))) {
      t.true(fs.existsSync(path.join(ROOT, b.context, src)), `${b.dockerfile}: COPY ${src} exists in ${b.context}`);
      t.false(dockerignoreExcludes(ignore, src), `${b.dockerfile}: COPY ${src} is not left out by .dockerignore`);
    }
  }
  const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
  for (const p of ['node_modules', '.venv', 'build', 'build/envoy.binpb', 'run', '.git', '.tmp', 'data']) {
    t.true(dockerignoreExcludes(ignore, p), `.dockerignore leaves out ${p}`);
  }
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  t.regex(dockerfile, /^FROM node:20-bookworm-slim/m);
  t.regex(dockerfile, /^RUN bash scripts\/build-protos\.sh/m, 'build/envoy.binpb is built in the image');
  t.regex(dockerfile, /^USER (?!root\b)\S+/m, 'runs as a non-root user');
  const entrypoint = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  t.deepEqual(JSON.parse(entrypoint?.slice('ENTRYPOINT '.length) ?? 'null'), ['node', ...NODE_FLAGS, 'bin/presencelb.mjs'], 'node, with NODE_FLAGS');
  t.regex(dockerfile, /^CMD \["serve", "-c", "\/etc\/presencelb\/presencelb\.yaml"\]$/m);
  t.regex(dockerfile, /^EXPOSE 18000 18001 9464$/m);
  // The flow log's volume: presencelb's image makes its mount point, owned by its user (node, uid 1000 in the node
  // image), and Envoy runs as that uid, so both may write it.
  const flowsTarget = mountsOf(compose()).named.find((v) => v.service === 'presencelb' && v.volume === FLOWS_VOLUME)?.target ?? 'none';
  t.true(dockerfile.split('\n').some((l) => /^RUN install -d -o node -g node /.test(l) && l.split(/\s+/).includes(flowsTarget)), `the image makes ${flowsTarget}, owned by node`);
  t.regex(dockerfile, /^USER node$/m);
  t.is(services().envoy!.user, '1000:1000', 'Envoy runs as the uid of the image\'s user node');
});

test('both compose Envoy bootstraps pass envoy --mode validate (and a STATIC cluster naming a host would not)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-deploy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ok = validateBootstrap(path.join(ROOT, COMPOSE_BOOTSTRAP));
  t.true(ok.ok, `${COMPOSE_BOOTSTRAP}: ${ok.output}`);
  // Envoy opens the flow log's file to validate it, and its directory is the volume's mount point in the container:
  // validate the same bootstrap with that directory here.
  const flowLog = readYaml(FLOW_LOG_BOOTSTRAP);
  fileLoggerOf(flowLog)!.typed_config.path = path.join(dir, path.basename(fileLoggerOf(flowLog)!.typed_config.path));
  fs.writeFileSync(path.join(dir, 'envoy-flow-log.yaml'), YAML.stringify(flowLog));
  const okFlowLog = validateBootstrap(path.join(dir, 'envoy-flow-log.yaml'));
  t.true(okFlowLog.ok, `${FLOW_LOG_BOOTSTRAP} with the flow log in ${dir}: ${okFlowLog.output}`);
  // Negative control: the check is not vacuous. A STATIC cluster cannot name the service by host name.
  const broken = path.join(dir, 'envoy.yaml');
  fs.writeFileSync(broken, fs.readFileSync(path.join(ROOT, COMPOSE_BOOTSTRAP), 'utf8').replaceAll('type: STRICT_DNS', 'type: STATIC'));
  const bad = validateBootstrap(broken);
  t.false(bad.ok, 'envoy rejects a STATIC cluster with a host name');
  t.regex(bad.output, /presencelb/);
});

test('the compose Envoy bootstraps are rendered from envoy/envoy.yaml and envoy/envoy-flow-log.yaml and up to date', async (t) => {
  const render = await renderModule();
  t.deepEqual(render.BOOTSTRAPS.map((b) => [b.source, b.target]), [['envoy/envoy.yaml', COMPOSE_BOOTSTRAP], ['envoy/envoy-flow-log.yaml', FLOW_LOG_BOOTSTRAP]]);
  for (const b of render.BOOTSTRAPS) {
    const rendered = render.renderComposeBootstrap(fs.readFileSync(path.join(ROOT, b.source), 'utf8'), b);
    t.true(rendered === fs.readFileSync(path.join(ROOT, b.target), 'utf8'), `${b.target} is out of date: run node deploy/envoy/render-bootstrap.mjs`);
  }
  // A reference without the flow log's file logger cannot be rendered as the flow log's bootstrap.
  const noFile = render.BOOTSTRAPS[1]!;
  t.throws(() => render.renderComposeBootstrap(fs.readFileSync(path.join(ROOT, 'envoy/envoy.yaml'), 'utf8'), noFile), { message: /no file access logger/ });
});

test('each compose Envoy bootstrap is its reference with only the compose addresses (and the flow log\'s path) changed', async (t) => {
  for (const b of (await renderModule()).BOOTSTRAPS) {
    const reference = readYaml(b.source);
    reference.admin.address.socket_address.address = '0.0.0.0';
    const listener = (reference.static_resources.listeners as Obj[]).find((l) => l.name === 'app_listener')!;
    listener.address.socket_address.address = '0.0.0.0';
    const clusters = PRESENCELB_CLUSTERS.filter((name) => (reference.static_resources.clusters as Obj[]).some((c) => c.name === name));
    t.true(clusters.includes('presencelb_xds'), `${b.source} reaches presencelb's xDS server`);
    for (const name of clusters) {
      const c = clusterOf(reference, name);
      c.type = 'STRICT_DNS';
      c.dns_lookup_family = 'V4_ONLY';
      endpointOf(c).address = 'presencelb';
    }
    const fileLogger = fileLoggerOf(reference);
    t.is(Boolean(fileLogger), Boolean(b.flowLogPath), `${b.source}: a file logger exactly when the flow log is rendered`);
    if (fileLogger) fileLogger.typed_config.path = b.flowLogPath;
    t.deepEqual(readYaml(b.target), reference, `${b.target} differs from ${b.source} elsewhere: run node deploy/envoy/render-bootstrap.mjs`);
  }
});

test('the compose presencelb configurations pass presencelb config check (and a wrong one fails)', (t) => {
  for (const rel of [SQLITE_CONFIG, POSTGRES_CONFIG, FLOW_LOG_CONFIG]) {
    const r = configCheck(rel);
    t.is(r.status, 0, `presencelb config check -c ${rel}:\n${r.output}`);
    t.truthy(r.config, `${rel}: config check printed the effective configuration`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-deploy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'presencelb.yaml');
  // A host name where the schema needs host:port: the command must reject it, or the checks above prove nothing.
  fs.writeFileSync(broken, fs.readFileSync(path.join(ROOT, SQLITE_CONFIG), 'utf8').replace('listen: 0.0.0.0:18001', 'listen: presencelb'));
  const bad = configCheck(broken);
  t.is(bad.status, 2, bad.output);
  t.regex(bad.output, /extProc\.listen/);
});

test('compose, the Envoy bootstrap and the presencelb configurations agree on addresses and ports', (t) => {
  const c = compose();
  const s = c.services as Record<string, Obj>;
  const bootstrap = readYaml(COMPOSE_BOOTSTRAP);
  const subnet = c.networks.presencelb.ipam.config[0];
  const sqlite = configCheck(SQLITE_CONFIG).config;
  const pg = configCheck(POSTGRES_CONFIG).config;
  if (!sqlite || !pg) return t.fail('config check failed (see the config check test)');

  // Both configurations are the same but for the store.
  t.deepEqual({ ...pg, store: undefined }, { ...sqlite, store: undefined }, 'presencelb.postgres.yaml differs from presencelb.yaml only in store');

  // Application servers: by fixed IP (EDS endpoints must be IPs), the port each demo server is started with.
  t.deepEqual(sqlite.applicationServers.map((a: Obj) => a.name), ['app-a', 'app-b']);
  for (const app of sqlite.applicationServers as Obj[]) {
    const svc = s[app.name];
    t.truthy(svc, `${app.name} is a compose service`);
    const ip = svc!.networks?.presencelb?.ipv4_address;
    t.is(app.host, ip, `${app.name}: config host is the service's ipv4_address`);
    t.true(ipv4InCidr(ip, subnet.subnet) && !ipv4InCidr(ip, subnet.ip_range), `${ip} is in ${subnet.subnet}, outside the dynamic ${subnet.ip_range}`);
    t.is(Number(argAfter(svc!.command, '--port')), app.port, `${app.name} listens on the configured port`);
    t.is(argAfter(svc!.command, '--name'), app.name);
    t.is(argAfter(svc!.command, '--host'), '0.0.0.0');
    t.true(svc!.healthcheck.test.join(' ').includes(`127.0.0.1:${app.port}/healthz`), `${app.name} healthcheck asks its own port`);
  }

  // presencelb <-> Envoy: both gRPC servers on every interface, at the ports the bootstrap's clusters name.
  for (const [cluster, listen] of [['presencelb_xds', sqlite.xds.listen], ['presencelb_ext_proc', sqlite.extProc.listen]] as const) {
    const ep = endpointOf(clusterOf(bootstrap, cluster));
    t.is(hostOf(listen), '0.0.0.0');
    t.deepEqual(ep, { address: 'presencelb', port_value: portOf(listen) }, `${cluster} reaches the presencelb service`);
    t.true(s.presencelb!.expose.includes(String(portOf(listen))));
  }
  t.true(s.presencelb!.healthcheck.test.join(' ').includes(`${portOf(sqlite.extProc.listen)}`), 'presencelb healthcheck asks the ext_proc port');
  const accessLog = JSON.stringify(bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log);
  t.true(accessLog.includes(`%REQ(${sqlite.identity.header.toUpperCase()})%`), 'the access log shows the identity header');

  // Envoy: the mounted bootstrap is the one it runs, the published ports are its listener and admin ports.
  t.is(argAfter(s.envoy!.command, '-c'), '/etc/envoy/${ENVOY_BOOTSTRAP:-envoy.yaml}');
  t.true(s.envoy!.volumes.includes(`./${path.dirname(COMPOSE_BOOTSTRAP)}:/etc/envoy:ro`));
  t.is(bootstrap.static_resources.listeners[0].address.socket_address.port_value, 10000);
  t.is(bootstrap.admin.address.socket_address.port_value, 9901);

  // presencelb <-> Kamailio: wsUrl names the service and the port of kamailio's LISTEN.
  const ws = new URL(sqlite.presence.wsUrl);
  t.is(ws.hostname, 'kamailio');
  const kcmd = s.kamailio!.command as string[];
  const listen = /^LISTEN=tcp:0\.0\.0\.0:(\d+)$/.exec(argAfter(kcmd, '-A') ?? '');
  t.truthy(listen, 'kamailio listens on tcp:0.0.0.0:PORT');
  t.is(ws.port, listen?.[1] ?? 'none');
  t.true(s.kamailio!.expose.includes(listen?.[1] ?? 'none'));
  // kamailio.cfg's documented command line: -f CFG -DD -E -m -M -A LISTEN -Y RUNDIR -P RUNDIR/kamailio.pid -w RUNDIR.
  t.true(s.kamailio!.volumes.includes(`./kamailio/kamailio.cfg:${argAfter(kcmd, '-f')}:ro`), 'kamailio runs the mounted kamailio.cfg');
  for (const flag of ['-DD', '-E', '-m', '-M']) t.true(kcmd.includes(flag), `kamailio command has ${flag}`);
  const runDir = argAfter(kcmd, '-Y');
  t.is(argAfter(kcmd, '-P'), `${runDir}/kamailio.pid`);
  t.is(argAfter(kcmd, '-w'), runDir);
  t.true(s.kamailio!.healthcheck.test.includes(`unix:${runDir}/kamailio_ctl`), 'the healthcheck talks to ctl in the run directory');

  // Stores: the SQLite file is inside presencelb's named volume; the PostgreSQL URL matches the postgres service.
  t.deepEqual(s.presencelb!.command, ['serve', '-c', '/etc/presencelb/${PRESENCELB_CONFIG:-presencelb.yaml}']);
  t.true(s.presencelb!.volumes.includes('./deploy/presencelb:/etc/presencelb:ro'));
  const dataMount = mountsOf(c).named.find((v) => v.service === 'presencelb');
  t.is(sqlite.store.client, 'sqlite3');
  t.true(sqlite.store.filename.startsWith(`${dataMount?.target}/`), `${sqlite.store.filename} is inside the volume at ${dataMount?.target}`);
  t.is(pg.store.client, 'pg');
  const url = new URL(pg.store.connection);
  const env = s.postgres!.environment;
  t.deepEqual(
    { host: url.hostname, port: url.port, user: url.username, password: url.password, db: url.pathname.slice(1) },
    { host: 'postgres', port: '5432', user: env.POSTGRES_USER, password: env.POSTGRES_PASSWORD, db: env.POSTGRES_DB },
  );
});

test('the flow log: Envoy writes it where presencelb reads it, presencelb rotates it through Envoy\'s admin port, and runs under SCHED_IDLE', (t) => {
  const c = compose();
  const s = c.services as Record<string, Obj>;
  const bootstrap = readYaml(FLOW_LOG_BOOTSTRAP);
  const flowLog = configCheck(FLOW_LOG_CONFIG).config;
  const sqlite = configCheck(SQLITE_CONFIG).config;
  if (!flowLog || !sqlite) return t.fail('config check failed (see the config check test)');

  // The same system as presencelb.yaml, but for what access-log mode over a file needs.
  const rest = (x: Obj) => ({ ...x, extProc: { ...x.extProc, accessLogLagMs: undefined, spanHoldMs: undefined, flowLog: undefined }, xds: { ...x.xds, pins: undefined }, cpu: undefined });
  t.deepEqual(rest(flowLog), rest(sqlite), 'presencelb.flow-log.yaml differs from presencelb.yaml only in accessLogLagMs, spanHoldMs, flowLog, xds.pins and cpu');
  t.is(flowLog.extProc.accessLogLagMs, 1500, 'decisions wait for flows Envoy has not written yet (envoy/envoy-flow-log.yaml)');
  t.is(flowLog.extProc.spanHoldMs, 5000, 'every request is a flow reported whole: fold them for the longest hold');
  t.is(flowLog.xds.pins, 'routes', 'no request passes ext_proc to carry a pin header');
  t.is(flowLog.cpu.policy, 'idle');
  t.is(flowLog.identity.source, 'jwt');
  t.deepEqual(fileLoggerOf(bootstrap)?.typed_config.log_format, { json_format: flowLogFormat(flowLog.identity) }, 'the format presencelb parses: the user is the verified JWT subject, as presencelb reads it');

  // The file: one path, inside the volume both services mount at the same place.
  const [file] = flowLog.extProc.flowLog.files as Obj[];
  t.is(flowLog.extProc.flowLog.files.length, 1);
  t.is(file!.path, fileLoggerOf(bootstrap)?.typed_config.path, 'presencelb reads the file Envoy writes');
  const targets = mountsOf(c).named.filter((v) => v.volume === FLOWS_VOLUME);
  t.deepEqual(targets.map((v) => v.service).sort(), ['envoy', 'presencelb']);
  for (const v of targets) t.true(file!.path.startsWith(`${v.target}/`), `${file!.path} is on ${FLOWS_VOLUME} in ${v.service} (${v.target})`);

  // Rotation: presencelb asks the envoy service's admin interface, on the port the bootstrap gives it.
  const admin = new URL(file!.envoyAdmin);
  t.is(admin.hostname, 'envoy');
  t.is(Number(admin.port), bootstrap.admin.address.socket_address.port_value);
  t.is(bootstrap.admin.address.socket_address.address, '0.0.0.0', 'the admin interface answers inside the network');
  t.true(s.envoy!.ports.includes(`127.0.0.1:${admin.port}:${admin.port}`), 'and on the host\'s loopback only');

  // Envoy writes its files often enough for accessLogLagMs (every 50 ms, not its default 10 s).
  t.is(argAfter(s.envoy!.command, '--file-flush-interval-msec'), '50');
  // xDS: the flow log's bootstrap reaches presencelb's xDS server by the service name.
  t.deepEqual(endpointOf(clusterOf(bootstrap, 'presencelb_xds')), { address: 'presencelb', port_value: portOf(flowLog.xds.listen) });
  t.false((bootstrap.static_resources.clusters as Obj[]).some((x) => x.name === 'presencelb_ext_proc'), 'no ext_proc');
});
