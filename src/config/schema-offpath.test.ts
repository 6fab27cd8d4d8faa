/** The config schema's extProc.offPath section: defaults, ranges, and what enabling it requires. */
import test from 'ava';
import { configSchema } from './schema.ts';
import { parseConfig } from './load.ts';

/** issues parses config and returns its errors as [path, message] pairs ([] when it is valid). */
const issues = (config: unknown): [string, string][] => {
  const r = parseConfig(config);
  return r.ok ? [] : r.errors.map((e) => [e.path, e.message]);
};

test('defaults: off, the stock ext_proc filter name, one publish every 5 s at most', (t) => {
  t.deepEqual(configSchema.parse({}).extProc.offPath, { enabled: false, extProcFilter: 'envoy.filters.http.ext_proc', publishMs: 5000 });
  const r = parseConfig({ extProc: { offPath: {} } });
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value.extProc.offPath, { enabled: false, extProcFilter: 'envoy.filters.http.ext_proc', publishMs: 5000 });
});

test('disabled, it asks nothing of xds.pins or accessLogLagMs', (t) => {
  t.deepEqual(issues({ extProc: { offPath: { enabled: false } } }), []);
  t.deepEqual(issues({ extProc: { accessLogLagMs: 0, offPath: { publishMs: 50 } }, xds: { pins: 'header' } }), []);
});

test('enabled with xds.pins: routes and an access-log lag of 1500 is valid, and keeps its settings', (t) => {
  const r = parseConfig({ extProc: { accessLogLagMs: 1500, offPath: { enabled: true, extProcFilter: 'my.ext_proc', publishMs: 250 } }, xds: { pins: 'routes' } });
  t.true(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  if (!r.ok) return;
  t.deepEqual(r.value.extProc.offPath, { enabled: true, extProcFilter: 'my.ext_proc', publishMs: 250 });
  t.is(r.value.extProc.accessLogLagMs, 1500);
  t.is(r.value.xds.pins, 'routes');
  t.deepEqual(issues({ extProc: { accessLogLagMs: 1100, offPath: { enabled: true } }, xds: { pins: 'routes' } }), [], '1100 is the least lag');
});

test('enabled needs xds.pins: routes (the default, header, is refused at extProc.offPath.enabled)', (t) => {
  for (const xds of [{}, { pins: 'header' }]) {
    const found = issues({ extProc: { accessLogLagMs: 1500, offPath: { enabled: true } }, xds });
    t.is(found.length, 1, JSON.stringify(found));
    t.is(found[0]![0], 'extProc.offPath.enabled');
    t.regex(found[0]![1], /xds\.pins: routes/);
  }
});

test('enabled needs an access-log lag of at least 1100 ms: the 1 s flush interval and the 50 ms batch (refused at extProc.accessLogLagMs)', (t) => {
  for (const accessLogLagMs of [undefined, 0, 1000, 1099]) {
    const found = issues({ extProc: { ...(accessLogLagMs === undefined ? {} : { accessLogLagMs }), offPath: { enabled: true } }, xds: { pins: 'routes' } });
    t.is(found.length, 1, JSON.stringify(found));
    t.is(found[0]![0], 'extProc.accessLogLagMs');
    t.regex(found[0]![1], /at least 1100/);
  }
});

test('enabled with neither requirement met reports both', (t) => {
  t.deepEqual(
    issues({ extProc: { offPath: { enabled: true } } }).map(([p]) => p).sort(),
    ['extProc.accessLogLagMs', 'extProc.offPath.enabled'],
  );
});

const bad: Array<[string, unknown, string]> = [
  ['a publishMs below 10', { publishMs: 9 }, 'extProc.offPath.publishMs'],
  ['a publishMs over a minute', { publishMs: 60_001 }, 'extProc.offPath.publishMs'],
  ['a fractional publishMs', { publishMs: 100.5 }, 'extProc.offPath.publishMs'],
  ['an empty extProcFilter', { extProcFilter: '' }, 'extProc.offPath.extProcFilter'],
  ['a non-boolean enabled', { enabled: 'yes' }, 'extProc.offPath.enabled'],
  ['an unknown key', { publishEveryMs: 100 }, 'extProc.offPath'],
];
for (const [name, offPath, path] of bad) {
  test(`extProc.offPath rejects ${name}`, (t) => {
    const found = issues({ extProc: { offPath } });
    t.true(found.some(([p]) => p === path), JSON.stringify(found));
  });
}

test('publishMs bounds 10 and 60000 are accepted', (t) => {
  t.deepEqual(issues({ extProc: { offPath: { publishMs: 10 } } }), []);
  t.deepEqual(issues({ extProc: { offPath: { publishMs: 60_000 } } }), []);
});
