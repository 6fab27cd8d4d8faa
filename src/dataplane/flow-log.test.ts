/**
 * The flow log (flow-log.ts, flow-log-tail.ts): lines as Envoy writes them become reports; a line that is no entry
 * is FLOW_LOG_MALFORMED; the tail hands on complete lines only, follows rotations and truncations, drops over-long
 * lines, and rotates a grown file through Envoy's admin interface.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryLogger } from '../core/testing/fakes.ts';
import { flowLogFormat, MAX_LINE_BYTES, parseFlowLogLine } from './flow-log.ts';
import { FlowLogTail, MAX_READ_BYTES, MISSING_WARN_MS, REOPEN_RETRY_MS } from './flow-log-tail.ts';

const U = '1ea56ad2-26d5-410a-bfaf-b0ba08a64363';
/** A line exactly as Envoy 1.40 wrote it (test/dataplane/flow-log-mode.test.ts). */
const END = `{"cluster":"app-a","duration_ms":4006,"flags":"-","request_id":"d659c367-1b26-444c-9ec7-e22d2225fdcc","start":"1795708727.686","type":"DownstreamEnd","upstream":"127.0.0.1:35075","user":"${U}"}`;
const line = (over: Record<string, unknown>) => JSON.stringify({ ...JSON.parse(END), ...over });

test('a final entry as Envoy writes it', (t) => {
  t.deepEqual(parseFlowLogLine(END), {
    ok: true,
    value: { requestId: 'd659c367-1b26-444c-9ec7-e22d2225fdcc', user: U, kind: 'final', startMs: 1795708727686, durationMs: 4006, broken: false, upstreamAddress: '127.0.0.1:35075', upstreamCluster: 'app-a' },
  });
});

test('periodic entries open; broken flags; Envoy’s marks for no value', (t) => {
  const p = parseFlowLogLine(line({ type: 'DownstreamPeriodic' }));
  t.is(p.ok && p.value?.kind, 'open');
  const other = parseFlowLogLine(line({ type: 'DownstreamStart' }));
  t.is(other.ok && other.value?.kind, 'other');
  for (const [flags, broken] of [['UC', true], ['DR,UR', true], ['UMSDR', true], ['NR', false], ['-', false], [null, false]] as const) {
    const r = parseFlowLogLine(line({ flags }));
    t.is(r.ok && r.value?.broken, broken, String(flags));
  }
  const none = parseFlowLogLine(line({ upstream: null, cluster: '-', duration_ms: null }));
  t.like(none.ok ? none.value : null, { upstreamAddress: null, upstreamCluster: null, durationMs: null });
  t.is(parseFlowLogLine(line({ user: U.toUpperCase() })).ok && (parseFlowLogLine(line({ user: U.toUpperCase() })) as any).value.user, U, 'canonical form');
});

test('an entry without a valid user is no one’s flow (null), not an error', (t) => {
  for (const user of [null, '-', 'not-a-uuid', `${U}\r\nx-evil: 1`, U.repeat(3)]) t.deepEqual(parseFlowLogLine(line({ user })), { ok: true, value: null }, String(user));
});

test('lines that are not entries are FLOW_LOG_MALFORMED', (t) => {
  const bad = ['', 'hello', '[1,2]', 'null', line({ request_id: null }), line({ type: 7 }), line({ start: 'yesterday' }), line({ start: '1e9' }), line({ duration_ms: -1 }), line({ duration_ms: '12' }), `${END.slice(0, -1)},"pad":"${'x'.repeat(MAX_LINE_BYTES)}"}`];
  for (const l of bad) {
    const r = parseFlowLogLine(l);
    t.false(r.ok, l.slice(0, 60));
    if (!r.ok) t.is(r.errors[0]!.code, 'FLOW_LOG_MALFORMED');
  }
});

test('start: seconds since the epoch, 1 to 12 digits and at most 9 after the point; as a string or a number', (t) => {
  const startOf = (start: unknown) => {
    const r = parseFlowLogLine(line({ start }));
    return r.ok ? r.value?.startMs : 'malformed';
  };
  t.is(startOf('1795708727.686'), 1795708727686);
  t.is(startOf('1795708727'), 1795708727000);
  t.is(startOf('1795708727.6861234'), 1795708727686);
  t.is(startOf(1795708727.686), 1795708727686);
  t.is(startOf('0.5'), 500);
  t.is(startOf(null), null);
  t.is(startOf(''), null, "Envoy's mark for no value");
  for (const bad of ['1795708727.', '.5', ' 1795708727', '1795708727 ', '1234567890123', '1795708727.1234567890', '17957-8727', '1795708727.68a', '+1795708727', '-1', 'Infinity', '0x10', true, {}]) t.is(startOf(bad), 'malformed', JSON.stringify(bad));
});

test('the format follows the identity config', (t) => {
  const jwt = flowLogFormat({ source: 'jwt', header: 'x-user-id', jwtMetadataNamespace: 'envoy.filters.http.jwt_authn', jwtPayloadKey: 'jwt_payload' });
  t.is(jwt.user, '%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload:sub)%');
  t.is(flowLogFormat({ ...{ source: 'header', header: 'x-user-id', jwtMetadataNamespace: 'n', jwtPayloadKey: 'k' } }).user, '%REQ(X-USER-ID)%');
});

function tailRig(o: { envoyAdmin?: string; rotateBytes?: number; serverInfo?: () => Promise<unknown> } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-tail-'));
  const file = path.join(dir, 'flows.log');
  const got: string[] = [];
  const reopened: string[] = [];
  const log = new MemoryLogger();
  const clock = { now: 0 };
  const tail = new FlowLogTail({
    file: { path: file, ...(o.envoyAdmin ? { envoyAdmin: o.envoyAdmin } : {}) },
    pollMs: 1000000,
    rotateBytes: o.rotateBytes ?? 0,
    onLine: (l) => got.push(l),
    log,
    reopen: async (admin) => void reopened.push(admin),
    serverInfo: o.serverInfo ?? (async () => ({ command_line_options: { file_flush_interval: '0.050s' } })),
    now: () => clock.now,
  });
  return { dir, file, got, reopened, log, clock, tail, append: (s: string) => fs.appendFileSync(file, s) };
}

test('an existing file is read from its end; complete lines only, in order', (t) => {
  const r = tailRig();
  r.append('old 1\nold 2\n');
  r.tail.start();
  r.append('a\nb\npar');
  r.tail.poll();
  t.deepEqual(r.got, ['a', 'b']);
  r.append('tial\n\nc\n');
  r.tail.poll();
  t.deepEqual(r.got, ['a', 'b', 'partial', 'c']);
  r.tail.stop();
});

test('a file that appears after the start is read from its start', (t) => {
  const r = tailRig();
  r.tail.start();
  r.tail.poll();
  r.append('first\n');
  r.tail.poll();
  t.deepEqual(r.got, ['first']);
  r.tail.stop();
});

test('a rotated file is read to its end before the new one; a truncated one again from its start', (t) => {
  const r = tailRig();
  r.tail.start();
  r.append('a\n');
  r.tail.poll();
  // logrotate: the old file is renamed, Envoy writes its last lines to it, then reopens the path.
  fs.renameSync(r.file, `${r.file}.old`);
  fs.appendFileSync(`${r.file}.old`, 'b\n');
  r.tail.poll();
  fs.appendFileSync(`${r.file}.old`, 'c\n');
  r.append('d\n');
  r.tail.poll();
  t.deepEqual(r.got, ['a', 'b', 'c', 'd']);
  fs.truncateSync(r.file, 0); // copytruncate: noticed while the file is shorter than what was read
  r.tail.poll();
  r.append('e\n');
  r.tail.poll();
  t.deepEqual(r.got, ['a', 'b', 'c', 'd', 'e']);
  t.true(r.log.lines.some((l) => l.msg?.includes('cut short')));
  r.tail.stop();
});

test('an over-long line is dropped, logged, and the next line read', (t) => {
  const r = tailRig();
  r.tail.start();
  r.append('x'.repeat(MAX_LINE_BYTES + 10));
  r.tail.poll();
  r.append('yyy\nok\n');
  r.tail.poll();
  t.deepEqual(r.got, ['ok']);
  t.true(r.log.lines.some((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_MALFORMED'));
  r.tail.stop();
});

test('with envoyAdmin, a grown file is renamed, Envoy asked to reopen it (again after a while), and the old one deleted once read', (t) => {
  const r = tailRig({ envoyAdmin: 'http://127.0.0.1:9901', rotateBytes: 10 });
  r.tail.start();
  r.append('0123456789\n');
  r.tail.poll();
  t.deepEqual(r.reopened, ['http://127.0.0.1:9901']);
  t.false(fs.existsSync(r.file));
  fs.appendFileSync(`${r.file}.1`, 'late\n'); // Envoy has not reopened yet
  r.tail.poll();
  t.is(r.reopened.length, 1);
  r.clock.now = REOPEN_RETRY_MS;
  r.tail.poll();
  t.is(r.reopened.length, 2, 'asked again');
  r.append('new\n'); // Envoy reopened the path
  r.tail.poll();
  t.deepEqual(r.got, ['0123456789', 'late', 'new']);
  t.false(fs.existsSync(`${r.file}.1`), 'the old file is deleted once read');
  r.tail.stop();
});

test('with envoyAdmin, an Envoy that writes its log files less often than every 50 ms is reported (FLOW_LOG_LATE)', async (t) => {
  const late = tailRig({ envoyAdmin: 'http://127.0.0.1:9901', serverInfo: async () => ({ command_line_options: { file_flush_interval: '10s' } }) });
  late.tail.start();
  await new Promise((r) => setImmediate(r));
  late.tail.stop();
  const warned = late.log.lines.find((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_LATE');
  t.like(warned?.obj, { fileFlushIntervalMs: 10000, wantMs: 50 });
  t.regex(warned?.msg ?? '', /--file-flush-interval-msec 50/);

  const fine = tailRig({ envoyAdmin: 'http://127.0.0.1:9901' });
  fine.tail.start();
  await new Promise((r) => setImmediate(r));
  fine.tail.stop();
  t.false(fine.log.lines.some((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_LATE'));
  t.true(fine.log.lines.some((l) => l.msg === 'flow log: Envoy writes it often enough'));

  const noAdmin = tailRig({ serverInfo: async () => t.fail('not asked without envoyAdmin') });
  noAdmin.tail.start();
  noAdmin.tail.stop();
});

test('a file that exists but cannot be opened at the start is reported once, then read from where it ended: nothing is replayed', (t) => {
  const r = tailRig();
  r.append('before\n');
  const root = process.getuid?.() === 0; // root opens any file: make the path a directory instead
  if (root) {
    fs.rmSync(r.file);
    fs.mkdirSync(r.file);
  } else fs.chmodSync(r.file, 0o000);
  t.notThrows(() => r.tail.start());
  r.tail.poll();
  r.tail.poll();
  t.is(r.log.lines.filter((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_UNREADABLE').length, 1, 'reported once, not every poll');
  if (root) {
    fs.rmdirSync(r.file);
    r.append('before\n');
    r.tail.poll();
    t.deepEqual(r.got, ['before'], 'another file in its place, written after the start: read from its start');
  } else fs.chmodSync(r.file, 0o644);
  if (!root) {
    r.tail.poll();
    t.deepEqual(r.got, [], 'opened at its end: what was written before the start is not replayed');
  }
  r.append('after\n');
  r.tail.poll();
  t.deepEqual(r.got, root ? ['before', 'after'] : ['after']);
  r.tail.stop();
});

test('a path that never appears is reported once, MISSING_WARN_MS after the start', (t) => {
  const r = tailRig();
  r.tail.start();
  r.tail.poll();
  t.false(r.log.lines.some((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_UNREADABLE'));
  r.clock.now = MISSING_WARN_MS;
  r.tail.poll();
  r.tail.poll();
  t.is(r.log.lines.filter((l) => (l.obj as { code?: string }).code === 'FLOW_LOG_UNREADABLE').length, 1);
  r.tail.stop();
});

test('a start during a rotation follows <path>.1 and asks Envoy to reopen the path at once', (t) => {
  const r = tailRig({ envoyAdmin: 'http://127.0.0.1:9901', rotateBytes: 1 << 20 });
  fs.writeFileSync(`${r.file}.1`, 'old\n');
  r.tail.start();
  fs.appendFileSync(`${r.file}.1`, 'late\n'); // Envoy still writes to the renamed file
  r.tail.poll();
  t.deepEqual(r.reopened, ['http://127.0.0.1:9901']);
  r.append('new\n');
  r.tail.poll();
  t.deepEqual(r.got, ['late', 'new']);
  t.false(fs.existsSync(`${r.file}.1`));
  r.tail.stop();
});

test('a backlog is read in slices of MAX_READ_BYTES; stop() reads the rest; stop() without start() reads nothing', (t) => {
  const r = tailRig();
  r.tail.start();
  const line = `${'x'.repeat(99)}\n`;
  r.append(line.repeat(Math.ceil((2.5 * MAX_READ_BYTES) / line.length)));
  r.tail.poll();
  t.is(r.got.length, Math.floor(MAX_READ_BYTES / line.length), 'one slice a poll');
  r.tail.stop();
  t.is(r.got.length, Math.ceil((2.5 * MAX_READ_BYTES) / line.length), 'stop() reads to the end');

  const idle = tailRig();
  idle.append('x\n');
  idle.tail.stop();
  t.deepEqual(idle.got, []);
});
