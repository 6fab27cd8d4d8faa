/**
 * What the ext_proc server may change, with the shipped bootstrap (mutation_rules: disallow_all, except the pin
 * header x-presencelb-pin, which only steers to a server through a steering route; none is served here): nothing. A rogue
 * ext_proc server in presencelb's place answers every request by setting the identity header to a pinned user's
 * UUID, asking Envoy to choose the route again, dropping the token and adding a header (and would do the same to
 * response headers, which the shipped bootstrap does not send it). Envoy ignores all of it: the request keeps its
 * verified user, takes the default route, and the client sees no added header.
 */
import test from 'ava';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { UserId } from '../../src/core/user-id.ts';
import { serviceDefinition } from '../../src/protos/envoy.ts';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { XdsRoutePublisher } from '../../src/xds/route-publisher.ts';
import { mintToken, newSigningKey } from '../../scripts/demo-token.ts';
import { startAppServers } from '../harness/app-server.ts';
import { DEFAULT_BOOTSTRAP, startEnvoy } from '../harness/envoy.ts';
import { pino } from 'pino';
import type { Logger } from '../../src/core/ports.ts';

/** startRogueExtProc answers each message with every mutation it can think of. */
async function startRogueExtProc(victim: string): Promise<{ port: number; server: Server; messages: () => number }> {
  let n = 0;
  const server = new Server();
  server.addService(serviceDefinition('envoy.service.ext_proc.v3.ExternalProcessor'), {
    Process(call: ServerDuplexStream<any, any>) {
      call.on('data', (req: any) => {
        n++;
        const common = {
          status: 'CONTINUE',
          header_mutation: {
            set_headers: [
              { header: { key: 'x-user-id', raw_value: Buffer.from(victim) } },
              { header: { key: 'x-rogue', raw_value: Buffer.from('1') } },
            ],
            remove_headers: ['authorization', 'x-request-id'],
          },
          clear_route_cache: true,
        };
        if (req.request_headers) call.write({ request_headers: { response: common } });
        else if (req.response_headers) call.write({ response_headers: { response: common } });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, server, messages: () => n };
}

test('mutation_rules.disallow_all: the ext_proc server can change neither the user, nor the route, nor the response', async (t) => {
  const victim = randomUUID() as UserId;
  const attacker = randomUUID();
  const key = newSigningKey();
  const apps = await startAppServers(['app-a', 'app-b']);
  const ads = new AdsServer({ logger: pino({ level: 'silent' }) as unknown as Logger });
  const xdsPort = await ads.start('127.0.0.1:0');
  const rogue = await startRogueExtProc(victim);
  const publisher = new XdsRoutePublisher({
    sink: ads,
    base: { appServers: apps.map(({ name, host, port }) => ({ name, host, port })), routeConfigName: 'presencelb-routes', virtualHostDomains: ['*'], identityHeader: 'x-user-id' },
    initialPins: [{ user: victim, appServer: 'app-b', createdAt: Date.now(), expiresAt: Date.now() + 60000 }],
  });
  publisher.publishCurrent();
  const envoy = await startEnvoy({ xdsPort, extProcPort: rogue.port, bootstrap: DEFAULT_BOOTSTRAP, jwks: key.jwks, nodeId: 'envoy-rogue' });
  try {
    await envoy.waitReady(20000);
    const get = async (sub: string) => {
      const r = await fetch(`${envoy.listenerUrl}/x`, { headers: { authorization: `Bearer ${mintToken(key, { sub })}` } });
      return { status: r.status, rogue: r.headers.get('x-rogue'), body: (await r.json()) as { server: string; user: string | null } };
    };
    // The pin is in force: the victim's own requests go to app-b.
    for (let i = 0; i < 4; i++) t.is((await get(victim)).body.server, 'app-b');

    const servers = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const r = await get(attacker);
      t.is(r.status, 200);
      t.is(r.body.user, attacker, 'the application server sees the verified user');
      t.is(r.rogue, null, 'no header added to the response');
      servers.add(r.body.server);
    }
    t.deepEqual([...servers].sort(), ['app-a', 'app-b'], 'the default route, not the victim’s pin');
    // The shipped bootstrap sends request headers only (response_header_mode: SKIP): one message per request.
    t.true(rogue.messages() >= 28, 'the rogue server was asked about every request');
    const rejected = (await envoy.stats('^http\\.app\\.ext_proc\\.rejected_header_mutations$'))['http.app.ext_proc.rejected_header_mutations'];
    t.true(Number(rejected) > 0, `Envoy counted the refused mutations (${rejected})`);
    t.is(apps.find((a) => a.name === 'app-b')!.hitsBy(victim), 4, 'no request was served as the victim but the victim’s own');
  } finally {
    await envoy.stop();
    rogue.server.forceShutdown();
    await ads.stop();
    await Promise.all(apps.map((a) => a.close()));
  }
});
