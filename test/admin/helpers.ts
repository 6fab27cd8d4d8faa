/**
 * Helpers of the admin API tests: an AdminClient for a stack, assertions on a failed call's status and trailers,
 * grpcurl (installed through scripts/install-grpcurl.sh when missing; a test that needs it fails if it cannot be),
 * and the presencelb CLI run as a child process.
 */
import type { ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { status, type ServiceError } from '@grpc/grpc-js';
import { AdminClient, type AdminClientOptions } from '../../src/admin/admin-client.ts';
import { REPO_ROOT } from '../harness/envoy.ts';

const run = promisify(execFile);

/** client returns an AdminClient closed when the test ends. */
export function client(t: ExecutionContext, o: AdminClientOptions): AdminClient {
  const c = new AdminClient(o);
  t.teardown(() => c.close());
  return c;
}

/** rejectsWith asserts the call fails with code and a message containing every fragment; returns the error. */
export async function rejectsWith(t: ExecutionContext, p: Promise<unknown>, code: status, ...fragments: string[]): Promise<ServiceError> {
  const e = (await t.throwsAsync(p)) as ServiceError;
  t.is(e?.code, code, `expected ${status[code]}, got ${status[e?.code] ?? e?.code}: ${e?.details}`);
  for (const f of fragments) t.true(e.details.includes(f), `${JSON.stringify(e.details)} lacks ${JSON.stringify(f)}`);
  return e;
}

/** trailer returns a trailer of a failed call ('' when absent). */
export const trailer = (e: ServiceError, key: string): string => String(e.metadata?.get(key)[0] ?? '');

let grpcurlBin: Promise<string> | undefined;

/**
 * grpcurl resolves with the path of the grpcurl binary, running scripts/install-grpcurl.sh (setup.sh's step) when it
 * is not installed yet; it rejects with the script's message when that fails, so the test fails, never skips.
 */
export function grpcurl(): Promise<string> {
  grpcurlBin ??= run('bash', [path.join(REPO_ROOT, 'scripts/install-grpcurl.sh')], { cwd: REPO_ROOT, timeout: 600000 }).then(
    ({ stdout }) => {
      const bin = stdout.trim().split('\n').pop() ?? '';
      if (!fs.existsSync(bin)) throw new Error(`grpcurl not found at ${JSON.stringify(bin)} after scripts/install-grpcurl.sh`);
      return bin;
    },
    (e: { stderr?: string; message: string }) => {
      throw new Error(`grpcurl is required by this test and could not be installed (scripts/install-grpcurl.sh): ${e.stderr || e.message}`);
    },
  );
  return grpcurlBin;
}

/** Output is what a child process printed and how it exited. */
export interface Output {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** exec runs a command to its end (never rejects on a non-zero exit). */
export function exec(cmd: string, args: readonly string[], timeoutMs = 30000): Promise<Output> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** cli runs `node bin/presencelb.mjs ...args`. */
export const cli = (...args: string[]): Promise<Output> => exec(process.execPath, [path.join(REPO_ROOT, 'bin/presencelb.mjs'), ...args]);
