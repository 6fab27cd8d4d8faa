/**
 * What the off-path tests (off-path.test.ts with a JWT, off-path-header.test.ts behind a trusted gateway) share:
 * the user's route in Envoy's match tree, and the teardown after which the user's next request is held again.
 */
import type { ExecutionContext } from 'ava';
import { waitFor } from '../harness/ports.ts';
import type { SipDevice } from '../harness/sip-device.ts';
import type { Rig } from './_rig.ts';

/** offPathRoute returns the route Envoy holds for the user in its match tree (undefined when it has none). */
export async function offPathRoute(rig: Rig, user: string): Promise<any> {
  const dump = await rig.envoy.configDump('resource=dynamic_route_configs');
  const rc = dump.configs?.[0]?.route_config;
  return rc?.virtual_hosts?.[0]?.matcher?.matcher_tree?.exact_match_map?.map?.[user]?.action?.typed_config;
}

/**
 * heldAgainAfterTeardown: the user's presence goes while no flow is in use, so the user is torn down; the teardown
 * waited for Envoy to drop the user's off-path route, so the next request goes through ext_proc (extProcStreams
 * counts one more) and is held for register before access is given.
 */
export async function heldAgainAfterTeardown(t: ExecutionContext, rig: Rig, user: string, device: SipDevice, extProcStreams: () => Promise<number>): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500));
  await device.publish('closed', 'gone');
  await rig.plb.waitForEvent(user, 'purge', 15000);
  const before = rig.plb.events(user).length;
  const s = await extProcStreams();
  t.is((await rig.get('/again', { as: user })).status, 200);
  // Log lines reach the test a little after the answer: wait for the grant's.
  const again = await waitFor('the new grant logged', () => {
    const e = rig.plb.events(user).slice(before);
    return e.includes('provide_access') ? e : null;
  }, 5000);
  t.true(again.indexOf('register') >= 0 && again.indexOf('provide_access') > again.indexOf('register'), `registered again before access: ${again.join(',')}`);
  t.is(await extProcStreams(), s + 1, 'through ext_proc again');
}
