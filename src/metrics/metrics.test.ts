import test from 'ava';
import { PlbMetrics } from './metrics.ts';

const node = { id: 'envoy-1', cluster: 'presencelb' };
const send = (version: string) => ({ type: 'send', node, protocol: 'sotw', kind: 'RDS', version, resources: 1, removed: 0 }) as never;
const ack = (version: string) => ({ type: 'ack', node, kind: 'RDS', version }) as never;

test('xds_converge_seconds observes send → ACK of the same version per node and type, and nothing else', async (t) => {
  const m = new PlbMetrics();
  m.onAdsEvent(send('v1'));
  m.onAdsEvent(ack('v0')); // an ACK of an older version does not count
  m.onAdsEvent(ack('v1'));
  m.onAdsEvent(ack('v1')); // a repeated ACK does not count twice
  const text = await m.exposition();
  t.regex(text, /presencelb_xds_converge_seconds_count\{type="RDS"\} 1\b/);
  t.regex(text, /presencelb_xds_acks_total\{type="RDS"\} 3\b/);
});
