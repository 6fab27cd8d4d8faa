/**
 * scripts/up.sh's modes: each names an Envoy bootstrap (envoy/) and a presencelb configuration (config/) that pass
 * their checks and agree with each other, so that `bash scripts/up.sh [mode]` brings up a working system; a mode it
 * does not know stops it before it installs or starts anything.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { flowLogFormat } from '../../src/dataplane/flow-log.ts';
import { clusterOf, configCheck, endpointOf, fileLoggerOf, portOf, ROOT, type Obj } from './compose-file.ts';

interface Mode {
  name: string;
  bootstrap: string;
  config: string;
  db: string;
}

/** modes reads the modes from up.sh's `case`: `  name) BOOTSTRAP=…; CONFIG=…; DB=… ;;`. */
function modes(): Mode[] {
  const text = fs.readFileSync(path.join(ROOT, 'scripts/up.sh'), 'utf8');
  return [...text.matchAll(/^ {2}([\w-]+)\) BOOTSTRAP=(\S+); CONFIG=(\S+); DB=(\S+) ;;$/gm)].map((m) => ({ name: m[1]!, bootstrap: m[2]!, config: m[3]!, db: m[4]! }));
}

function configOf(rel: string): Obj {
  const r = configCheck(rel);
  if (r.status !== 0 || !r.config) throw new Error(`presencelb config check -c ${rel}: exit ${r.status}\n${r.output}`);
  return r.config;
}

/** clusterPort is the port of a bootstrap's static cluster, undefined when it has no cluster of that name. */
const clusterPort = (bootstrap: Obj, name: string): number | undefined =>
  (bootstrap.static_resources.clusters as Obj[]).some((c) => c.name === name) ? endpointOf(clusterOf(bootstrap, name)).port_value : undefined;

test('up.sh has the ext-proc mode (the default) and the flow-log mode', (t) => {
  t.deepEqual(modes().map((m) => m.name), ['ext-proc', 'flow-log']);
  t.regex(fs.readFileSync(path.join(ROOT, 'scripts/up.sh'), 'utf8'), /^MODE="\$\{1:-ext-proc\}"$/m);
});

for (const mode of modes()) {
  test(`up.sh ${mode.name}: ${mode.bootstrap} and ${mode.config} agree`, (t) => {
    const bootstrap = YAML.parse(fs.readFileSync(path.join(ROOT, mode.bootstrap), 'utf8')) as Obj;
    const config = configOf(mode.config);
    t.is(path.normalize(config.store.filename), mode.db, 'up.sh names the database the config uses');
    t.is(clusterPort(bootstrap, 'presencelb_xds'), portOf(config.xds.listen), 'Envoy reaches the xDS server');
    const extProcPort = clusterPort(bootstrap, 'presencelb_ext_proc');
    const fileLogger = fileLoggerOf(bootstrap);
    if (extProcPort !== undefined) {
      t.is(extProcPort, portOf(config.extProc.listen), 'Envoy reaches the ext_proc server');
      t.deepEqual(config.extProc.flowLog.files, []);
      t.is(config.cpu.policy, 'normal', 'each request waits for presencelb: not under SCHED_IDLE');
    }
    if (fileLogger) {
      t.is(extProcPort, undefined, 'the flow log without ext_proc');
      const [file] = config.extProc.flowLog.files as Obj[];
      t.is(file?.path, fileLogger.typed_config.path, 'presencelb reads the file Envoy writes');
      const admin = bootstrap.admin.address.socket_address;
      t.is(file?.envoyAdmin, `http://${admin.address}:${admin.port_value}`, 'and rotates it through that Envoy\'s admin interface');
      t.is(config.extProc.accessLogLagMs, 1500);
      t.is(config.extProc.spanHoldMs, 5000, 'every request is a flow reported whole: folded for the longest hold');
      t.is(config.xds.pins, 'routes');
      t.is(config.cpu.policy, 'idle', 'no request waits for presencelb');
      t.deepEqual(fileLogger.typed_config.log_format, { json_format: flowLogFormat(config.identity) }, 'the format presencelb parses, for its identity source');
      t.is(config.identity.source, 'jwt');
    }
    t.true(extProcPort !== undefined || fileLogger !== undefined, 'flows come from ext_proc or the flow log');
  });
}

test('up.sh with a mode it does not know exits 2 naming the modes, before it installs or starts anything', (t) => {
  const r = spawnSync('bash', ['scripts/up.sh', 'observability'], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
  t.is(r.status, 2);
  t.is(r.stderr.trim(), "up: unknown mode 'observability': use ext-proc (the default) or flow-log");
  t.is(r.stdout, '');
});
