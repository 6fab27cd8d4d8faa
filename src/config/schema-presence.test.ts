/** The presence.interpretation section of the config schema: defaults shared with the core, and validation. */
import test from 'ava';
import { DEFAULT_PRESENCE_INTERPRETATION } from '../core/presence-change.ts';
import { configSchema } from './schema.ts';

test('an empty config gives the core’s default interpretation', (t) => {
  t.deepEqual(configSchema.parse({}).presence.interpretation, { ...DEFAULT_PRESENCE_INTERPRETATION, goneActivities: [...DEFAULT_PRESENCE_INTERPRETATION.goneActivities] });
});

test('activities and the idle threshold can be set; null turns idleness off', (t) => {
  const c = configSchema.parse({ presence: { interpretation: { goneActivities: ['away', 'in-transit'], idleGoneAfterMs: null } } });
  t.deepEqual(c.presence.interpretation, { goneActivities: ['away', 'in-transit'], idleGoneAfterMs: null });
  t.deepEqual(configSchema.parse({ presence: { interpretation: { goneActivities: [] } } }).presence.interpretation.idleGoneAfterMs, 3_600_000);
});

const bad: Array<[string, unknown, string]> = [
  ['an activity that is no element name', { goneActivities: ['On Vacation'] }, 'presence.interpretation.goneActivities.0'],
  ['an idle threshold below a second', { idleGoneAfterMs: 10 }, 'presence.interpretation.idleGoneAfterMs'],
  ['a fractional idle threshold', { idleGoneAfterMs: 1500.5 }, 'presence.interpretation.idleGoneAfterMs'],
  ['an unknown key', { goneAfter: 1 }, 'presence.interpretation'],
];
for (const [name, interpretation, path] of bad) {
  test(`presence.interpretation rejects ${name}`, (t) => {
    const r = configSchema.safeParse({ presence: { interpretation } });
    t.false(r.success);
    t.true(!r.success && r.error.issues.some((i) => i.path.join('.') === path), JSON.stringify(!r.success && r.error.issues));
  });
}
