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
import { validateBootstrap } from '../harness/envoy.ts';
import {
  argAfter,
  buildsOf,
  COMPOSE_FILE,
  copySources,
  dockerignoreExcludes,
  envWithoutOverrides,
  ipv4InCidr,
  MISSING_COMPOSE,
  mountsOf,
  readYaml,
  ROOT,
  run,
  type Obj,
} from './compose-file.ts';

const COMPOSE_BOOTSTRAP = 'deploy/envoy/envoy.yaml';
const SQLITE_CONFIG = 'deploy/presencelb/presencelb.yaml';
const POSTGRES_CONFIG = 'deploy/presencelb/presencelb.postgres.yaml';
/** PRESENCELB_CLUSTERS are the static clusters of the bootstrap that reach presencelb. */
const PRESENCELB_CLUSTERS = ['presencelb_xds', 'presencelb_ext_proc'] as const;

/** RenderModule is what deploy/envoy/render-bootstrap.mjs (plain JavaScript) exports and these tests use. */
interface RenderModule {
  renderComposeBootstrap(sourceText: string): string;
}

const compose = () => readYaml('docker-compose.yml');
const services = () => compose().services as Record<string, Obj>;

/** composeConfig runs `docker-compose -f docker-compose.yml [--profile p] config [-q]` from the root. */
function composeConfig(opts: { profile?: string | undefined; quiet?: boolean; env?: Record<string, string> }) {
  const args = ['-f', COMPOSE_FILE, ...(opts.profile ? ['--profile', opts.profile] : []), 'config', ...(opts.quiet ? ['-q'] : [])];
  return run('docker-compose', args, envWithoutOverrides(opts.env));
}

/** configCheck runs `presencelb config check -c file` and returns its exit status and printed config. */
function configCheck(rel: string): { status: number | null; config: Obj | undefined; output: string } {
  const r = run(process.execPath, ['bin/presencelb.mjs', 'config', 'check', '-c', rel]);
  let config: Obj | undefined;
  try {
    config = JSON.parse(r.stdout) as Obj;
  } catch {
    config = undefined;
  }
  return { status: r.status, config, output: `${r.stdout}${r.stderr}` };
}

function clusterOf(bootstrap: Obj, name: string): Obj {
  const c = (bootstrap.static_resources.clusters as Obj[]).find((x) => x.name === name);
  if (!c) throw new Error(`bootstrap has no cluster ${name}`);
  return c;
}

const endpointOf = (cluster: Obj): Obj => cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const hostOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));

const VARIANTS: readonly { title: string; profile?: string; env: Record<string, string>; configFile: string; postgres: boolean }[] = [
  { title: 'default services', env: {}, configFile: 'presencelb.yaml', postgres: false },
  { title: "profile 'postgres' with PRESENCELB_CONFIG", profile: 'postgres', env: { PRESENCELB_CONFIG: 'presencelb.postgres.yaml' }, configFile: 'presencelb.postgres.yaml', postgres: true },
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
  t.deepEqual(named.map((v) => `${v.service}:${v.volume}`).sort(), ['postgres:postgres-data', 'presencelb:presencelb-data']);
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
});

test('the compose Envoy bootstrap passes envoy --mode validate (and a STATIC cluster naming a host would not)', (t) => {
  const ok = validateBootstrap(path.join(ROOT, COMPOSE_BOOTSTRAP));
  t.true(ok.ok, ok.output);
  // Negative control: the check is not vacuous. A STATIC cluster cannot name the service by host name.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-deploy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broken = path.join(dir, 'envoy.yaml');
  fs.writeFileSync(broken, fs.readFileSync(path.join(ROOT, COMPOSE_BOOTSTRAP), 'utf8').replaceAll('type: STRICT_DNS', 'type: STATIC'));
  const bad = validateBootstrap(broken);
  t.false(bad.ok, 'envoy rejects a STATIC cluster with a host name');
  t.regex(bad.output, /presencelb/);
});

test('the compose Envoy bootstrap is rendered from envoy/envoy.yaml and up to date', async (t) => {
  const render = (await import(pathToFileURL(path.join(ROOT, 'deploy/envoy/render-bootstrap.mjs')).href)) as RenderModule;
  const rendered = render.renderComposeBootstrap(fs.readFileSync(path.join(ROOT, 'envoy/envoy.yaml'), 'utf8'));
  t.true(rendered === fs.readFileSync(path.join(ROOT, COMPOSE_BOOTSTRAP), 'utf8'), `${COMPOSE_BOOTSTRAP} is out of date: run node deploy/envoy/render-bootstrap.mjs`);
});

test('the compose Envoy bootstrap is envoy/envoy.yaml with only the compose addresses changed', (t) => {
  const reference = readYaml('envoy/envoy.yaml');
  reference.admin.address.socket_address.address = '0.0.0.0';
  const listener = (reference.static_resources.listeners as Obj[]).find((l) => l.name === 'app_listener')!;
  listener.address.socket_address.address = '0.0.0.0';
  for (const name of PRESENCELB_CLUSTERS) {
    const c = clusterOf(reference, name);
    c.type = 'STRICT_DNS';
    c.dns_lookup_family = 'V4_ONLY';
    endpointOf(c).address = 'presencelb';
  }
  t.deepEqual(readYaml(COMPOSE_BOOTSTRAP), reference, `${COMPOSE_BOOTSTRAP} differs from envoy/envoy.yaml elsewhere: run node deploy/envoy/render-bootstrap.mjs`);
});

test('both compose presencelb configurations pass presencelb config check (and a wrong one fails)', (t) => {
  for (const rel of [SQLITE_CONFIG, POSTGRES_CONFIG]) {
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
  t.is(argAfter(s.envoy!.command, '-c'), '/etc/envoy/envoy.yaml');
  t.true(s.envoy!.volumes.includes(`./${COMPOSE_BOOTSTRAP}:/etc/envoy/envoy.yaml:ro`));
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
