/**
 * Reading docker-compose.yml and what it builds from, for test/deploy/compose.test.ts (and up-modes.test.ts): the
 * repository root, the parsed file, its bind mounts and build contexts, Dockerfile COPY sources, a .dockerignore
 * matcher, an Envoy bootstrap's flow log, and the docker-compose and presencelb commands run from the root. Paths are
 * resolved from this file, never hard-coded.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

/** ROOT is the repository root (docker-compose.yml's directory). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** COMPOSE_FILE is the compose file under test. */
export const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

/** Obj is a parsed YAML mapping; docker-compose and Envoy check the shapes, these tests read fields. */
export type Obj = Record<string, any>;

/** readYaml parses a YAML file of the repository (path relative to ROOT). */
export function readYaml(rel: string): Obj {
  return YAML.parse(fs.readFileSync(path.join(ROOT, rel), 'utf8')) as Obj;
}

/** Run is the outcome of one command. */
export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** missing is true when the binary itself was not found. */
  readonly missing: boolean;
}

/** envWithoutOverrides is the test's environment without the variables compose and presencelb substitute. */
export function envWithoutOverrides(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PRESENCELB_') || k === 'ENVOY_BOOTSTRAP') delete env[k];
  return { ...env, ...extra };
}

/** run runs a command from ROOT and collects its output (60 s at most). */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = envWithoutOverrides()): Run {
  const r = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 60000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error && !missing ? String(r.error) : ''}`, missing };
}

/** configCheck runs `presencelb config check -c file` and returns its exit status and printed config. */
export function configCheck(rel: string): { status: number | null; config: Obj | undefined; output: string } {
  const r = run(process.execPath, ['bin/presencelb.mjs', 'config', 'check', '-c', rel]);
  let config: Obj | undefined;
  try {
    config = JSON.parse(r.stdout) as Obj;
  } catch {
    config = undefined;
  }
  return { status: r.status, config, output: `${r.stdout}${r.stderr}` };
}

/** clusterOf returns a bootstrap's static cluster of that name, or throws naming it. */
export function clusterOf(bootstrap: Obj, name: string): Obj {
  const c = (bootstrap.static_resources.clusters as Obj[]).find((x) => x.name === name);
  if (!c) throw new Error(`bootstrap has no cluster ${name}`);
  return c;
}

/** endpointOf returns a static cluster's (first) endpoint socket address. */
export const endpointOf = (cluster: Obj): Obj => cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
/** portOf is the port of a presencelb `host:port` listen address. */
export const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

/** fileLoggerOf returns an Envoy bootstrap's file access logger on the app listener (the flow log), if any. */
export function fileLoggerOf(bootstrap: Obj): Obj | undefined {
  const listener = (bootstrap.static_resources.listeners as Obj[]).find((l) => l.name === 'app_listener');
  return (listener?.filter_chains[0].filters[0].typed_config.access_log as Obj[] | undefined)?.find((l) => l.name === 'envoy.access_loggers.file');
}

/** MISSING_COMPOSE explains how to get docker-compose when it is not installed. */
export const MISSING_COMPOSE =
  "docker-compose not found on PATH: it validates docker-compose.yml without a Docker engine. Install it with bash scripts/setup.sh (Debian package 'docker-compose').";

/** BindMount is one host path a service mounts. */
export interface BindMount {
  readonly service: string;
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** NamedVolumeMount is one named volume a service mounts. */
export interface NamedVolumeMount {
  readonly service: string;
  readonly volume: string;
  readonly target: string;
}

/**
 * mountsOf splits every service's volumes (short "src:dst[:mode]" and long {type, source, target} syntax) into
 * bind mounts (a source that is a path) and named volumes.
 */
export function mountsOf(compose: Obj): { binds: BindMount[]; named: NamedVolumeMount[] } {
  const binds: BindMount[] = [];
  const named: NamedVolumeMount[] = [];
  for (const [service, def] of Object.entries<Obj>(compose.services ?? {})) {
    for (const v of def.volumes ?? []) {
      let source: string;
      let target: string;
      let readOnly: boolean;
      let type: string | undefined;
      if (typeof v === 'string') {
        const parts = v.split(':');
        [source, target] = [parts[0] ?? '', parts[1] ?? ''];
        readOnly = parts.slice(2).join(':').split(',').includes('ro');
      } else {
        ({ source = '', target = '', type } = v as Obj);
        readOnly = Boolean((v as Obj).read_only);
      }
      const isPath = type === 'bind' || source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
      if (isPath) binds.push({ service, source, target, readOnly });
      else named.push({ service, volume: source, target });
    }
  }
  return { binds, named };
}

/** BuildRef is one service's build context and Dockerfile, both relative to ROOT. */
export interface BuildRef {
  readonly service: string;
  readonly context: string;
  readonly dockerfile: string;
}

/** buildsOf lists every service's build (string or {context, dockerfile}); dockerfile is relative to context. */
export function buildsOf(compose: Obj): BuildRef[] {
  return Object.entries<Obj>(compose.services ?? {})
    .filter(([, def]) => def.build !== undefined)
    .map(([service, def]) => {
      const b = typeof def.build === 'string' ? { context: def.build } : (def.build as Obj);
      const context = path.normalize(b.context ?? '.');
      return { service, context, dockerfile: path.join(context, b.dockerfile ?? 'Dockerfile') };
    });
}

/** copySources lists the sources of a Dockerfile's COPY/ADD instructions that read the build context. */
export function copySources(dockerfileText: string): string[] {
  const joined = dockerfileText.replace(/\\\n/g, ' ');
  const out: string[] = [];
  for (const line of joined.split('\n')) {
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m || /--from=/.test(m[2]!)) continue;
    const words = m[2]!.split(/\s+/).filter((w) => w !== '' && !w.startsWith('--'));
    out.push(...words.slice(0, -1));
  }
  return out;
}

/**
 * dockerignoreExcludes tells whether a context-relative path is left out of the build context by .dockerignore
 * patterns (Docker's rules for the patterns used here: `*` within one path segment, `**` across segments, `!`
 * re-includes, the last matching pattern wins, a pattern matching a parent directory covers what is inside).
 */
export function dockerignoreExcludes(patternsText: string, rel: string): boolean {
  const patterns = patternsText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const toRegex = (p: string) =>
    new RegExp(`^${p.replace(/^\/+|\/+$/g, '').replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\u0000').replace(/\*\*/g, '.*').replace(/\*/g, '[^/]*').replace(/\u0000/g, '(?:.*/)?')}$`);
  const segments = path.normalize(rel).replace(/\/+$/, '').split('/');
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegex(negate ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) excluded = !negate;
  }
  return excluded;
}

/** argAfter returns the argument that follows flag in a command array (undefined when absent). */
export function argAfter(command: readonly string[], flag: string): string | undefined {
  const i = command.indexOf(flag);
  return i >= 0 ? command[i + 1] : undefined;
}

/** ipv4InCidr tells whether an IPv4 address lies in a CIDR block. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const [base, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base!) & mask) >>> 0);
}
