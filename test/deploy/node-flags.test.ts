/**
 * Every launcher of `presencelb serve` passes NODE_FLAGS (src/cli/node-flags.ts) to node: scripts/up.sh here, the
 * Dockerfile's ENTRYPOINT in compose.test.ts (with the rest of the image); the test harness and the benchmarks import
 * the constant.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { ROOT } from './compose-file.ts';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('scripts/up.sh runs `presencelb serve` with NODE_FLAGS', (t) => {
  const line = read('scripts/up.sh').split('\n').find((l) => l.includes('bin/presencelb.mjs serve'));
  t.truthy(line, 'a line that starts presencelb');
  t.true(line!.startsWith(`node ${NODE_FLAGS.join(' ')} bin/presencelb.mjs serve `), line);
});
