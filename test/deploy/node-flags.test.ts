/**
 * Every launcher of `presencelb serve` passes NODE_FLAGS (src/cli/node-flags.ts) to node: the Dockerfile's ENTRYPOINT
 * and scripts/up.sh here; the test harness and the benchmarks import the constant.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { ROOT } from './compose-file.ts';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('the Dockerfile runs node with NODE_FLAGS before bin/presencelb.mjs', (t) => {
  const entry = read('Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'));
  t.truthy(entry, 'an ENTRYPOINT');
  t.deepEqual(JSON.parse(entry!.slice('ENTRYPOINT'.length)), ['node', ...NODE_FLAGS, 'bin/presencelb.mjs']);
});

test('scripts/up.sh runs `presencelb serve` with NODE_FLAGS', (t) => {
  const line = read('scripts/up.sh').split('\n').find((l) => l.includes('bin/presencelb.mjs serve'));
  t.truthy(line, 'a line that starts presencelb');
  t.true(line!.startsWith(`node ${NODE_FLAGS.join(' ')} bin/presencelb.mjs serve `), line);
});
