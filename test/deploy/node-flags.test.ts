/**
 * Every launcher of `presencelb serve` passes NODE_FLAGS (src/cli/node-flags.ts) to node: scripts/up.sh here, the
 * Dockerfile's ENTRYPOINT in compose.test.ts (with the rest of the image); the test harness and the benchmarks import
 * the constant. Every launcher of Envoy passes --file-flush-interval-msec FLOW_LOG_FLUSH_MS.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import YAML from 'yaml';
import { FLOW_LOG_FLUSH_MS } from '../../src/dataplane/flow-log.ts';
import { argAfter, ROOT } from './compose-file.ts';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('scripts/up.sh runs `presencelb serve` with NODE_FLAGS, at a lower CPU priority than Envoy', (t) => {
  const line = read('scripts/up.sh').split('\n').find((l) => l.includes('bin/presencelb.mjs serve'));
  t.truthy(line, 'a line that starts presencelb');
  t.true(line!.startsWith(`nice -n 10 node ${NODE_FLAGS.join(' ')} bin/presencelb.mjs serve `), line);
});

test('docker-compose.yml gives presencelb a lower CPU weight than Envoy', (t) => {
  const compose = read('docker-compose.yml');
  const service = (name: string) => compose.slice(compose.indexOf(`\n  ${name}:\n`), compose.indexOf('\n\n', compose.indexOf(`\n  ${name}:\n`)));
  t.regex(service('presencelb'), /\n    cpu_shares: 256\n/);
  t.notRegex(service('envoy'), /cpu_shares/, 'Envoy keeps the default weight (1024)');
});

test('every Envoy the project starts writes its log files every FLOW_LOG_FLUSH_MS (a flow log needs it; the default is 10 s)', (t) => {
  const flag = `--file-flush-interval-msec ${FLOW_LOG_FLUSH_MS}`;
  const envoyLine = read('scripts/up.sh').split('\n').find((l) => l.includes('--log-level warn'));
  t.true(envoyLine?.includes(flag), `scripts/up.sh: ${envoyLine}`);
  const command = (YAML.parse(read('docker-compose.yml')) as { services: { envoy: { command: string[] } } }).services.envoy.command;
  t.is(argAfter(command, '--file-flush-interval-msec'), String(FLOW_LOG_FLUSH_MS), 'docker-compose.yml');
  for (const launcher of ['test/harness/envoy.ts', 'bench/lib/envoy.ts']) t.regex(read(launcher), /'--file-flush-interval-msec', String\(FLOW_LOG_FLUSH_MS\)/, launcher);
});
