/**
 * Incremental (delta) xDS bootstraps for tests: the shipped envoy/envoy-delta.yaml, and delta variants of the other
 * shipped bootstraps (the same file with ads_config.api_type DELTA_GRPC), so a test can run any of them over delta.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './envoy.ts';

/** DELTA_BOOTSTRAP is envoy/envoy.yaml over incremental xDS (identity from a verified JWT). */
export const DELTA_BOOTSTRAP = path.join(REPO_ROOT, 'envoy/envoy-delta.yaml');

/** deltaVariant writes a copy of file whose one `api_type: GRPC` reads `api_type: DELTA_GRPC` and returns its path; it throws if file does not say GRPC exactly once. */
export function deltaVariant(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const found = text.match(/^(\s*)api_type: GRPC\s*$/gm) ?? [];
  if (found.length !== 1) throw new Error(`${file} must set api_type: GRPC exactly once (found ${found.length})`);
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plb-delta-')), path.basename(file));
  fs.writeFileSync(out, text.replace(/^(\s*)api_type: GRPC(\s*)$/m, '$1api_type: DELTA_GRPC$2'));
  return out;
}
