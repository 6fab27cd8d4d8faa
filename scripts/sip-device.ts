/**
 * A user's own SIP device, for trying the system by hand: registers as sip:<uuid>@<domain> on the presence
 * server, publishes a presence status for the user, prints any MESSAGE presencelb sends the user (its reconnect
 * request carries the UUID), then unregisters.
 *   npx tsx scripts/sip-device.ts --user <uuid> --status closed [--ws ws://127.0.0.1:5066] [--domain presencelb.local] [--wait 5]
 */
import { parseArgs } from 'node:util';
import { startSipDevice } from '../test/harness/sip-device.ts';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    status: { type: 'string', default: 'closed' },
    ws: { type: 'string', default: 'ws://127.0.0.1:5066' },
    domain: { type: 'string', default: 'presencelb.local' },
    wait: { type: 'string', default: '5' },
  },
});
if (!values.user || (values.status !== 'open' && values.status !== 'closed')) {
  process.stderr.write('usage: sip-device.ts --user <uuid> --status open|closed [--ws URL] [--domain D] [--wait SECONDS]\n');
  process.exit(2);
}
const device = await startSipDevice({ wsUrl: values.ws!, domain: values.domain!, user: values.user });
console.log(`registered ${device.aor}; publishing ${values.status}`);
console.log(`PUBLISH answered ${await device.publish(values.status, `set by scripts/sip-device.ts`)}`);
const until = Date.now() + Number(values.wait) * 1000;
try {
  const m = await device.waitForMessage(undefined, Math.max(0, until - Date.now()));
  console.log(`MESSAGE received from ${m.from}:\n  ${Object.entries(m.headers).filter(([k]) => k.startsWith('x-')).map(([k, v]) => `${k}: ${v.join(', ')}`).join('\n  ')}\n  ${m.body}`);
} catch {
  console.log(`no MESSAGE within ${values.wait} s (an idle user is released instead: see run/presencelb.log)`);
}
await device.stop();
process.exit(0);
