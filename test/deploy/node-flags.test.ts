/**
 * Every launcher of `presencelb serve` passes NODE_FLAGS (src/cli/node-flags.ts) to node: scripts/up.sh here, the
 * Dockerfile's ENTRYPOINT in compose.test.ts (with the rest of the image); the test harness and the benchmarks import
 * the constant. Every launcher of Envoy passes --file-flush-interval-msec FLOW_LOG_FLUSH_MS. And the flags do what
 * node-flags.ts says they do.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
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

/**
 * CHURN keeps about 30 MB live and, forty times over, replaces a ring of 200,000 objects: each lives long enough to
 * be promoted to the old space and then dies there, as presencelb's open flows, spans and store batches do. It prints
 * the largest the old space got after the first rounds. (In a function: code at the top level of `node -e` makes
 * larger objects.)
 */
const CHURN = `(function churn() {
const v8 = require('v8');
const oldUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
const live = [];
for (let i = 0; i < 600000; i++) live.push({ a: i, b: 'x' + i, c: [i, i + 1] });
const ring = new Array(200000);
let peak = 0;
for (let round = 0; round < 40; round++) {
  for (let i = 0; i < ring.length; i++) ring[i] = { r: round, i, s: 'y' + i, d: [i] };
  if (round >= 5) peak = Math.max(peak, oldUsed());
}
process.stdout.write(String(peak));
})();`;

test('NODE_FLAGS keep the old space near what is live: with V8 choosing its own growing factor it fills with garbage', (t) => {
  const peakWith = (flags: readonly string[]) => Number(execFileSync(process.execPath, [...flags, '-e', CHURN], { encoding: 'utf8', timeout: 60000 }));
  const shipped = peakWith(NODE_FLAGS);
  const withoutGrowing = peakWith(NODE_FLAGS.filter((f) => !f.startsWith('--heap-growing-percent')));
  t.true(NODE_FLAGS.includes('--heap-growing-percent=20'));
  const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  t.log(`old space at its largest: ${mib(shipped)} with NODE_FLAGS, ${mib(withoutGrowing)} without --heap-growing-percent`);
  t.true(shipped < withoutGrowing / 2, `${mib(shipped)} with NODE_FLAGS is not under half of ${mib(withoutGrowing)}`);
});
