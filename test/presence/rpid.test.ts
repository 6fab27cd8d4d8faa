/**
 * RPID through a real Kamailio (kamailio/kamailio.cfg): a user's device PUBLISHes PIDF with RPID (RFC 4480),
 * presence_xml merges it with presencelb's own tuple, and the Lifecycle, wired to SipPresenceClient and a real
 * SQLite store, reads the merged NOTIFY. `away` with basic still open is no presence change; `vacation` in the
 * device's <dm:person> with basic still open is one, and with no flow in use the claim's teardown branch runs.
 */
import anyTest, { type TestFn } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserAgent, type Core, type URI } from 'sip.js';
import { WebSocket as NodeWebSocket } from 'ws';
import { Lifecycle } from '../../src/core/lifecycle.ts';
import type { LifecycleEvent } from '../../src/core/lifecycle-events.ts';
import type { PresenceSink, RoutePublisher } from '../../src/core/ports.ts';
import { DEFAULT_PRESENCE_INTERPRETATION } from '../../src/core/presence-change.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import { openStore } from '../../src/store/index.ts';
import { startKamailio, type Kamailio } from '../harness/kamailio.ts';
import { waitFor } from '../harness/ports.ts';
import { DOMAIN, makeClient, newUser, realClock, recordingLogger } from './helpers.ts';

const test = anyTest as TestFn<{ k: Kamailio; dir: string }>;
const APP_A = { name: 'app-a', host: '127.0.0.1', port: 8081 };

test.before(async (t) => {
  t.context.k = await startKamailio();
  t.context.dir = await mkdtemp(path.join(os.tmpdir(), 'plb-rpid-'));
});
test.after.always(async (t) => {
  await t.context.k?.stop();
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

/** rpidPidf is a device's document: one tuple, basic open, with optional RPID in the status and a person element. */
function rpidPidf(aor: string, o: { status?: string; person?: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${aor}">
<tuple id="device"><status><basic>open</basic>${o.status ?? ''}</status></tuple>${o.person ? `\n<dm:person id="p-device">${o.person}</dm:person>` : ''}
</presence>`;
}

/**
 * startPublisher plays the user's device: its own SIP.js user agent, which publishes (and modifies, with
 * SIP-If-Match) any PIDF body for sip:<user>@<domain>. Separate from src/presence, like test/harness/sip-device.ts.
 */
async function startPublisher(wsUrl: string, user: string) {
  (globalThis as { WebSocket?: unknown }).WebSocket ??= NodeWebSocket;
  const aor = `sip:${user}@${DOMAIN}`;
  const uri = UserAgent.makeURI(aor) as URI;
  const ua = new UserAgent({ uri, transportOptions: { server: wsUrl }, reconnectionAttempts: 0, logLevel: 'error', logConfiguration: false });
  await ua.start();
  let etag: string | null = null;
  const send = (headers: string[], content?: string) =>
    new Promise<Core.IncomingResponseMessage>((resolve) => {
      const body = content === undefined ? undefined : { contentDisposition: 'render', contentType: 'application/pidf+xml', content };
      const req = ua.userAgentCore.makeOutgoingRequestMessage('PUBLISH', uri, uri, uri, {}, ['Event: presence', ...headers], body);
      ua.userAgentCore.publish(req, { onAccept: (r) => resolve(r.message), onReject: (r) => resolve(r.message) });
    });
  return {
    aor,
    async publish(doc: string): Promise<void> {
      const r = await send(['Expires: 600', ...(etag ? [`SIP-If-Match: ${etag}`] : [])], doc);
      const code = r.statusCode ?? 0;
      if (code < 200 || code >= 300) throw new Error(`device PUBLISH: ${code} ${r.reasonPhrase}`);
      etag = r.getHeader('sip-etag') ?? null;
    },
    async stop(): Promise<void> {
      if (etag) await send(['Expires: 0', `SIP-If-Match: ${etag}`]).catch(() => undefined);
      await ua.stop();
    },
  };
}

test('device publishes away, then vacation with basic open: no decision, then the teardown branch', async (t) => {
  const { k, dir } = t.context;
  const user = newUser();
  const log = recordingLogger();
  const store = await openStore({ client: 'sqlite3', filename: path.join(dir, 'rpid.db') }, log);
  t.teardown(() => store.close());
  const routes: RoutePublisher = {
    pin: async () => ({ version: 'pinned' }),
    unpin: async () => ({ version: 'unpinned' }),
  };
  let lifecycle: Lifecycle | null = null;
  const sink: PresenceSink = { onNotify: (n) => lifecycle?.onNotify(n), onSubscriptionLost: (u, why) => lifecycle?.onSubscriptionLost(u, why) };
  const { client } = makeClient(k.wsUrl, { sink });
  t.teardown(() => client.stop());
  await client.start();
  lifecycle = new Lifecycle({
    presence: client, store, routes, clock: realClock, log, appServers: [APP_A],
    graceMs: 0, reconnectWindowMs: 60000, stepTimeoutMs: 2000, staleNotifyMs: 700000,
    presenceInterpretation: DEFAULT_PRESENCE_INTERPRETATION,
  });
  const lc = lifecycle;
  const events: LifecycleEvent[] = [];
  lc.observe((e) => events.push(e));
  const notifies = () => events.filter((e) => e.step === 'receive_notification');

  const device = await startPublisher(k.wsUrl, user);
  t.teardown(() => device.stop());
  await device.publish(rpidPidf(device.aor, {}));

  // The user's one request, over before any presence change: nothing is in use from then on.
  lc.flowStarted({ id: 'f1', user, appServer: 'app-a', startedAt: Date.now() }, () => {});
  await lc.idle();
  lc.flowEnded('f1', user, Date.now(), 'completed');
  await waitFor('the baseline NOTIFY', () => notifies().some((e) => e.detail?.kind === 'baseline'), 10000);
  t.is(lc.session(user)?.state, 'tracking');

  // Stepping away with basic still open: Kamailio notifies, but it is no presence change.
  const seen = notifies().length;
  await device.publish(rpidPidf(device.aor, { status: '<rpid:activities><rpid:away/></rpid:activities>' }));
  const away = await waitFor('the NOTIFY saying away', () => notifies().slice(seen).find((e) => e.detail?.kind !== 'baseline'), 10000);
  t.is(away.detail?.kind, 'unchanged', JSON.stringify(away.detail));
  t.is(away.detail?.presenceGone, false);
  await lc.idle();
  t.false(events.some((e) => e.step === 'identify'));

  // On vacation (the person element), basic still open: a presence change; no flow in use, so teardown.
  await device.publish(rpidPidf(device.aor, { person: '<rpid:activities><rpid:vacation/></rpid:activities>' }));
  await waitFor('the purge', () => events.find((e) => e.step === 'purge'), 10000);
  await lc.idle();
  const changed = notifies().find((e) => e.detail?.kind === 'changed');
  t.is(changed?.detail?.presenceGone, true);
  t.regex(String(changed?.detail?.presence), /person activity vacation/);
  const after = events.slice(events.findIndex((e) => e.step === 'identify'));
  t.deepEqual(after.map((e) => `${e.step}${e.ok ? '' : '!'}`), ['identify', 'unsubscribe', 'unpublish', 'unregister', 'purge']);
  t.is(after[0]?.detail?.branch, 'teardown');
  t.is(lc.session(user), undefined);

  // What Kamailio holds now: no subscription, no binding of ours, only the device's publication.
  t.false(await k.hasSubscribers(presentityUri(user, DOMAIN)));
  t.deepEqual(await k.bindingsOf(bindingAor(user, DOMAIN)), []);
  const pubs = (await k.presentities()).filter((p: any) => p.user === user);
  t.is(pubs.length, 1, JSON.stringify(pubs));
  t.notRegex(String(pubs[0].body), new RegExp(`id="${OWN_TUPLE_ID}"`));
  t.is(await store.getUser(user), null);
});
