/**
 * The admin API with authentication on: a bearer token (admin.tokenFile) over mutual TLS (admin.tls with
 * clientCaFile), against the running system. Calls without the token or with a wrong one end UNAUTHENTICATED before
 * any handler runs; health checks need no token; a client without a certificate the CA signed cannot connect; the
 * token never shows in presencelb's output. grpcurl and the CLI reach the API with the right credentials.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { credentials, loadPackageDefinition, status } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProto } from 'grpc-health-check';
import { startStack, type Stack } from '../system/stack.ts';
import { makeSecrets, type TestSecrets } from './certs.ts';
import { cli, client, exec, grpcurl, rejectsWith, trailer } from './helpers.ts';

let stack: Stack;
let s: TestSecrets;
test.before(async () => {
  s = makeSecrets();
  stack = await startStack({ admin: { tokenFile: s.tokenFile, tls: { certFile: s.serverCert, keyFile: s.serverKey, clientCaFile: s.caFile } } });
});
test.after.always(async () => {
  await stack?.stop();
  if (s) fs.rmSync(s.dir, { recursive: true, force: true });
});

const mtls = () => ({ caFile: s.caFile, certFile: s.clientCert, keyFile: s.clientKey });
const api = (t: ExecutionContext, token: string | null) => client(t, { addr: stack.adminAddr, token, tls: mtls(), deadlineMs: 5000 });

test('the right token over mutual TLS is admitted', async (t) => {
  const r = await api(t, s.token).call('ListEnvoys');
  t.true(r.envoys.length >= 1);
});

test('no token, or a wrong one: UNAUTHENTICATED, for unary and streaming calls alike', async (t) => {
  const none = await rejectsWith(t, api(t, null).call('ListUsers'), status.UNAUTHENTICATED, 'authorization: Bearer');
  t.is(trailer(none, 'presencelb-error-code'), 'UNAUTHENTICATED');
  await rejectsWith(t, api(t, `${s.token}x`).call('GetStats'), status.UNAUTHENTICATED, 'not valid');
  await rejectsWith(t, api(t, s.token.slice(1)).call('PurgeUser', { uuid: '0b6f3a52-6a3e-4d36-9f3c-6c1d2b3a4f50' }), status.UNAUTHENTICATED);
  const stream = api(t, null).watchEvents();
  const e = await new Promise<any>((resolve) => stream.on('error', resolve));
  t.is(e.code, status.UNAUTHENTICATED);
});

test('health checks need no token', async (t) => {
  const Health = (loadPackageDefinition(protoLoader.loadSync(healthProto, { enums: String })) as any).grpc.health.v1.Health;
  const creds = credentials.createSsl(fs.readFileSync(s.caFile), fs.readFileSync(s.clientKey), fs.readFileSync(s.clientCert));
  const h = new Health(stack.adminAddr, creds);
  t.teardown(() => h.close());
  const r = await new Promise<any>((resolve, reject) => h.Check({ service: '' }, (e: Error | null, v: unknown) => (e ? reject(e) : resolve(v))));
  t.is(r.status, 'SERVING');
});

test('without a client certificate, or in plaintext, no call gets through', async (t) => {
  const noCert = client(t, { addr: stack.adminAddr, token: s.token, tls: { caFile: s.caFile }, deadlineMs: 3000 });
  const e1 = (await t.throwsAsync(noCert.call('ListEnvoys'))) as unknown as { code: number };
  t.true(e1.code === status.UNAVAILABLE || e1.code === status.DEADLINE_EXCEEDED, `no client cert: ${status[e1.code]}`);
  const plain = client(t, { addr: stack.adminAddr, token: s.token, deadlineMs: 3000 });
  const e2 = (await t.throwsAsync(plain.call('ListEnvoys'))) as unknown as { code: number };
  t.true(e2.code === status.UNAVAILABLE || e2.code === status.DEADLINE_EXCEEDED, `plaintext: ${status[e2.code]}`);
});

test('grpcurl: reflection and calls with the token over mutual TLS; refused without the token', async (t) => {
  const bin = await grpcurl();
  const tls = ['-cacert', s.caFile, '-cert', s.clientCert, '-key', s.clientKey];
  const auth = ['-H', `authorization: Bearer ${s.token}`];
  const list = await exec(bin, [...tls, ...auth, stack.adminAddr, 'list']);
  t.is(list.code, 0, list.stderr);
  t.true(list.stdout.includes('presencelb.admin.v1.AdminService'));
  const call = await exec(bin, [...tls, ...auth, stack.adminAddr, 'presencelb.admin.v1.AdminService/ListEnvoys']);
  t.is(call.code, 0, call.stderr);
  t.true(JSON.parse(call.stdout).envoys.length >= 1);
  const refused = await exec(bin, [...tls, stack.adminAddr, 'list']);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Unauthenticated/);
});

test('the CLI with --token-file and the TLS options; without the token it prints the status and exits 1', async (t) => {
  const conn = ['--addr', stack.adminAddr, '--ca-file', s.caFile, '--cert-file', s.clientCert, '--key-file', s.clientKey];
  const ok = await cli('envoys', '--json', ...conn, '--token-file', s.tokenFile);
  t.is(ok.code, 0, ok.stderr);
  t.true(JSON.parse(ok.stdout).envoys.length >= 1);
  const refused = await cli('users', 'ls', ...conn);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^presencelb: UNAUTHENTICATED: /m);
  t.false(refused.stderr.includes(s.token));
});

test('the token is never logged', async (t) => {
  await api(t, 'a-wrong-token-that-is-long-enough').call('ListEnvoys').catch(() => undefined);
  const log = JSON.stringify(stack.plb.lines);
  t.true(log.includes('admin API listening'));
  t.false(log.includes(s.token), 'the token does not appear in the log');
  t.false(log.includes('a-wrong-token-that-is-long-enough'), 'nor what a client sent');
});

test('a token file that is missing or holds no usable token stops serve with exit status 2, naming the field', async (t) => {
  const short = path.join(s.dir, 'short.token');
  fs.writeFileSync(short, 'tooshort\n');
  for (const tokenFile of [short, path.join(s.dir, 'missing.token')]) {
    const config = path.join(s.dir, 'bad.yaml');
    fs.writeFileSync(config, `admin: { listen: 127.0.0.1:0, tokenFile: ${tokenFile} }\nmetrics: { listen: 127.0.0.1:0 }\nstore: { client: sqlite3, filename: ${path.join(s.dir, 'bad.db')} }\n`);
    const r = await cli('serve', '-c', config);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /admin\.tokenFile: .*\[CONFIG_INVALID\]/);
    t.false(r.stderr.includes('tooshort'), 'the file’s content is not echoed');
  }
});
