/**
 * The checked-in descriptor files under proto/ stay true to the .proto sources:
 * - proto/reflection.binpb, what server reflection serves, equals a fresh scripts/build-admin-descriptors.sh build;
 * - proto/admin.v1.binpb, the released API that `buf breaking` compares against (scripts/test.sh), still describes
 *   the service, and the current protos break nothing of it.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REFLECTION_IMAGE } from '../../src/admin/admin-proto.ts';
import { REPO_ROOT } from '../harness/envoy.ts';
import { exec } from './helpers.ts';

test('proto/reflection.binpb is a fresh build of the protos (else run bash scripts/build-admin-descriptors.sh)', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plb-desc-')), 'reflection.binpb');
  const r = await exec('bash', [path.join(REPO_ROOT, 'scripts/build-admin-descriptors.sh'), out], 120000);
  t.is(r.code, 0, r.stderr);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(REFLECTION_IMAGE)), 'proto/reflection.binpb is stale: run bash scripts/build-admin-descriptors.sh');
});

test('the current protos break nothing of the released API (proto/admin.v1.binpb)', async (t) => {
  const r = await exec('npx', ['--no-install', 'buf', 'breaking', '--against', 'proto/admin.v1.binpb'], 120000);
  t.is(r.code, 0, r.stdout + r.stderr);
});
