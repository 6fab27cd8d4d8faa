/** The config schema's extProc.flowLog section: defaults, each file's settings, and the lag it asks of offPath. */
import test from 'ava';
import { configSchema } from './schema.ts';
import { parseConfig } from './load.ts';

const issues = (config: unknown): [string, string][] => {
  const r = parseConfig(config);
  return r.ok ? [] : r.errors.map((e) => [e.path, e.message]);
};

test('defaults: no file, a poll every 25 ms, rotation at 64 MiB', (t) => {
  t.deepEqual(configSchema.parse({}).extProc.flowLog, { files: [], pollMs: 25, rotateBytes: 64 * 1024 * 1024 });
});

test('files with and without an Envoy admin address are kept as given', (t) => {
  const files = [{ path: '/var/log/envoy-1.log', envoyAdmin: 'http://127.0.0.1:9901' }, { path: '/var/log/envoy-2.log' }];
  const r = parseConfig({ extProc: { flowLog: { files, pollMs: 50, rotateBytes: 0 } } });
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value.extProc.flowLog, { files, pollMs: 50, rotateBytes: 0 });
});

test('bad files are refused, each with its path', (t) => {
  t.deepEqual(issues({ extProc: { flowLog: { files: [{ path: '/a' }, { path: '/a' }] } } }), [['extProc.flowLog.files.1.path', '/a is listed twice (one file per Envoy)']]);
  t.is(issues({ extProc: { flowLog: { files: [{ path: '' }] } } })[0]?.[0], 'extProc.flowLog.files.0.path');
  t.is(issues({ extProc: { flowLog: { files: [{ path: '/a', envoyAdmin: '127.0.0.1:9901' }] } } })[0]?.[0], 'extProc.flowLog.files.0.envoyAdmin');
  t.is(issues({ extProc: { flowLog: { files: [{ path: '/a', admin: 'x' }] } } })[0]?.[0], 'extProc.flowLog.files.0');
  t.is(issues({ extProc: { flowLog: { pollMs: 0 } } })[0]?.[0], 'extProc.flowLog.pollMs');
});

test('with offPath, the lag must also cover a slow poll', (t) => {
  const base = { xds: { pins: 'routes' }, extProc: { accessLogLagMs: 1100, offPath: { enabled: true } } };
  t.deepEqual(issues({ ...base, extProc: { ...base.extProc, flowLog: { files: [{ path: '/a' }] } } }), [], 'the least lag covers the default poll');
  const slow = issues({ ...base, extProc: { ...base.extProc, flowLog: { files: [{ path: '/a' }], pollMs: 200 } } });
  t.deepEqual(slow.map(([p]) => p), ['extProc.accessLogLagMs']);
  t.regex(slow[0]![1], /at least 1275/);
});
