/** The config schema's data-path and retention settings: extProc.accessLogLagMs, spanHoldMs and lifecycle.flowRetentionMs. */
import test from 'ava';
import { configSchema } from './schema.ts';

test('defaults: no access-log lag (ext_proc reports flows at their start), flows kept an hour', (t) => {
  const c = configSchema.parse({});
  t.is(c.extProc.accessLogLagMs, 0);
  t.is(c.lifecycle.flowRetentionMs, 3_600_000);
  t.is(c.extProc.spanHoldMs, 2000, 'completed flows reported whole wait up to 2 s in the data path');
  t.is(configSchema.parse({ extProc: { spanHoldMs: 0 } }).extProc.spanHoldMs, 0, '0: none wait');
});

test('the values envoy-access-log.yaml asks for, and a day of retention, are accepted', (t) => {
  const c = configSchema.parse({ extProc: { accessLogLagMs: 1500 }, lifecycle: { flowRetentionMs: 86_400_000 } });
  t.is(c.extProc.accessLogLagMs, 1500);
  t.is(c.lifecycle.flowRetentionMs, 86_400_000);
});

const bad: Array<[string, unknown, string]> = [
  ['a negative lag', { extProc: { accessLogLagMs: -1 } }, 'extProc.accessLogLagMs'],
  ['a lag over a minute', { extProc: { accessLogLagMs: 60_001 } }, 'extProc.accessLogLagMs'],
  ['a negative span hold', { extProc: { spanHoldMs: -1 } }, 'extProc.spanHoldMs'],
  ['a span hold over 5 s (the store keeps a span open graceMs + 5 s)', { extProc: { spanHoldMs: 5001 } }, 'extProc.spanHoldMs'],
  ['a span hold that is not whole milliseconds', { extProc: { spanHoldMs: 1.5 } }, 'extProc.spanHoldMs'],
  ['a retention below two minutes', { lifecycle: { flowRetentionMs: 60_000 } }, 'lifecycle.flowRetentionMs'],
  ['a retention a decision could outlive (graceMs + 2 min)', { lifecycle: { graceMs: 600_000, flowRetentionMs: 700_000 } }, 'lifecycle.flowRetentionMs'],
  ['a retention a reconnect window could outlive (+ 2 min)', { lifecycle: { reconnectWindowMs: 7_200_000 } }, 'lifecycle.flowRetentionMs'],
];
for (const [name, config, path] of bad) {
  test(`rejects ${name}`, (t) => {
    const r = configSchema.safeParse(config);
    t.false(r.success);
    t.true(r.error!.issues.some((i) => i.path.join('.') === path), JSON.stringify(r.error!.issues));
  });
}
