/**
 * Identity from a verified JWT, with the shipped bootstrap (envoy/envoy.yaml) and presencelb's default
 * identity.source jwt: a valid token's subject is the user; a missing, forged, expired or misaddressed token is
 * answered 401 (403 for a wrong audience) by Envoy before presencelb sees it; a verified subject that is not a
 * UUID is answered 400 by presencelb; a client's own x-user-id header changes nothing, not even which route it
 * takes. After each test no ext_proc stream and no flow is left open.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { newSigningKey, mintToken } from '../../scripts/demo-token.ts';
import { waitFor } from '../harness/ports.ts';
import { startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'jwt' });
});
test.after.always(async () => {
  await rig?.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

test.serial('a valid token: the request is served and tracked under its subject, which the application server sees', async (t) => {
  const mark = rig.mark();
  const user = randomUUID();
  const r = await rig.get('/hello', { as: user });
  t.is(r.status, 200);
  t.is(r.body.user, user, 'Envoy sets x-user-id from the verified sub');
  await rig.plb.waitForEvent(user, 'subscribe');
  t.deepEqual(rig.plb.events(user).slice(0, 4), ['register', 'notify', 'provide_access', 'subscribe']);
  const [flow] = await waitFor('the flow ended from the access log', async () => {
    const f = await rig.flowsOf(user);
    return f.length === 1 && f[0].ended_at !== null ? f : null;
  });
  t.like(flow, { user_id: user, app_server: r.body.server, end_reason: 'completed' });

  // The subject is canonicalised like any identity: an upper-case UUID is the same user.
  t.is((await rig.get('/again', { headers: bearer(rig.token({ sub: user.toUpperCase() })) })).status, 200);
  await waitFor('the second flow', async () => (await rig.streamsOf(user)) === 2);
  await rig.settled(mark);
});

test.serial('no token, or a forged, expired, premature, misaddressed, unsigned or non-string-sub one: rejected by Envoy alone', async (t) => {
  const mark = rig.mark();
  const flowsBefore = rig.counts()?.flowsTotal ?? 0;
  const before = await rig.rowCounts();
  const user = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const stranger = newSigningKey(rig.key.kid); // same kid, different key: a forgery
  // jwt_authn answers 401 (403 for an audience it does not accept), with a text naming the failure.
  const cases: Record<string, Record<string, string>> = {
    missing: {},
    'not a JWT': bearer('not-a-jwt'),
    'signed by another key': bearer(mintToken(stranger, { sub: user })),
    expired: bearer(rig.token({ sub: user, ttlSec: -120 })),
    'not yet valid': bearer(rig.token({ sub: user, extra: { nbf: now + 3600 } })),
    'wrong issuer': bearer(rig.token({ sub: user, iss: 'someone-else' })),
    'wrong audience': bearer(rig.token({ sub: user, aud: 'another-service' })),
    'sub not a string': bearer(rig.token({ sub: 42 })),
    'alg none': bearer(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: user, iss: 'presencelb-demo', aud: 'presencelb', exp: now + 3600 })}.`),
    'tampered payload': bearer(rig.token({ sub: user }).replace(/\.[^.]+\./, `.${b64url({ sub: randomUUID(), iss: 'presencelb-demo', aud: 'presencelb', exp: now + 3600 })}.`)),
  };
  for (const [what, headers] of Object.entries(cases)) {
    const r = await rig.get('/x', { headers: { ...headers, 'x-user-id': user } });
    t.is(r.status, what === 'wrong audience' ? 403 : 401, what);
    t.regex(r.text, /^(Jwt|Audiences in Jwt) /, `${what}: jwt_authn's answer (${r.text})`);
  }
  // Envoy answered alone: presencelb saw none of these requests (ext_proc skips response headers, so not even
  // Envoy's own 401 reaches it), started no flow and stored nothing.
  t.is(await rig.unseen(mark), mark, 'presencelb saw no stream');
  t.is(rig.counts()?.flowsTotal ?? 0, flowsBefore, 'no flow started');
  t.deepEqual(await rig.rowCounts(), before);
  t.deepEqual(rig.plb.events(user), []);
});

test.serial('a verified subject that is not a UUID: 400 from presencelb with a coded error; never echoed, logged or stored', async (t) => {
  const mark = rig.mark();
  const before = await rig.rowCounts();
  const secret = 'secret-subject-value';
  const cases: [string, unknown, string][] = [
    ['not a UUID', secret, 'IDENTITY_MALFORMED'],
    ['a UUID in braces', `{${randomUUID()}}`, 'IDENTITY_MALFORMED'],
    ['a URN', `urn:uuid:${randomUUID()}`, 'IDENTITY_MALFORMED'],
    ['with CR/LF', `${randomUUID()}\r\nx-evil: 1`, 'IDENTITY_MALFORMED'],
    ['oversized', 'a'.repeat(5000), 'IDENTITY_MALFORMED'],
    ['absent', undefined, 'IDENTITY_MISSING'],
  ];
  for (const [what, sub, code] of cases) {
    const r = await rig.get('/x', { headers: bearer(rig.token({ sub })) });
    t.is(r.status, 400, what);
    t.is(r.body?.error, code, `${what}: ${r.text}`);
    t.false(r.text.includes(secret), `${what}: the value is not echoed`);
  }
  await rig.settled(mark);
  t.false(rig.plb.lines.some((l) => JSON.stringify(l).includes(secret)), 'the value is never logged');
  t.deepEqual(await rig.rowCounts(), before, 'no user and no flow stored');
});

test.serial("a client's own x-user-id is ignored: the verified subject is the user, upstream and in the store", async (t) => {
  const mark = rig.mark();
  const user = randomUUID();
  const other = randomUUID();
  const r = await rig.get('/hello', { as: user, headers: { 'x-user-id': other } });
  t.is(r.status, 200);
  t.is(r.body.user, user, 'the application server sees the verified user, not the header the client sent');
  // Two copies, in any case, change nothing either.
  const r2 = await rig.get('/hello', { as: user, headers: { 'X-User-Id': `${other}, ${other}` } });
  t.is(r2.body.user, user);
  // A token without sub plus a header naming someone: no identity at all.
  const r3 = await rig.get('/hello', { headers: { ...bearer(rig.token({})), 'x-user-id': other } });
  t.is(r3.status, 400);
  t.is(r3.body.error, 'IDENTITY_MISSING');
  await waitFor('both flows stored', async () => (await rig.streamsOf(user)) === 2);
  t.deepEqual(await rig.flowsOf(other), [], 'nothing stored about the user the header named');
  t.deepEqual(rig.plb.events(other), []);
  await rig.settled(mark);
});

test.serial("a client cannot put itself on another user's pinned server by sending that user's x-user-id or a pin header", async (t) => {
  const mark = rig.mark();
  const victim = randomUUID();
  const device = await rig.device(victim);
  // The victim is in use (a 6 s stream) when their presence changes: presencelb pins them to their server.
  const streaming = await fetch(`${rig.envoy.listenerUrl}/stream?seconds=6`, { headers: bearer(rig.token({ sub: victim })) });
  t.is(streaming.status, 200);
  const pinnedTo = streaming.headers.get('x-app-server');
  await rig.plb.waitForEvent(victim, 'subscribe');
  await waitFor('the baseline NOTIFY', () => rig.plb.events(victim).includes('receive_notification'));
  await device.publish('closed', 'went offline');
  // The pin is in force once route_update is logged (xds.pins: header: the table ext_proc reads).
  await rig.plb.waitForEvent(victim, 'route_update');

  // The victim's own requests follow the pin: ext_proc sets the pin header for the verified subject.
  for (let i = 0; i < 6; i++) {
    const r = await rig.get('/mine', { as: victim });
    t.is(r.body.server, pinnedTo);
    t.is(r.body.pin, pinnedTo);
  }

  // The attacker's requests, carrying the victim's UUID in x-user-id, take the default route: both servers answer,
  // and every answer is for the attacker.
  const attacker = randomUUID();
  const servers = new Set<string>();
  for (let i = 0; i < 24; i++) {
    const r = await rig.get('/spoof', { as: attacker, headers: { 'x-user-id': victim, 'x-presencelb-pin': pinnedTo! } });
    t.is(r.status, 200);
    t.is(r.body.user, attacker);
    t.is(r.body.pin, null, 'nor by sending a pin header of its own');
    servers.add(r.body.server);
  }
  t.deepEqual([...servers].sort(), ['app-a', 'app-b'], 'the attacker is not pinned to the victim’s server');
  await waitFor('the attacker’s 24 flows', async () => (await rig.streamsOf(attacker)) === 24);
  t.true((await rig.flowsOf(victim)).every((f: any) => f.app_server === pinnedTo), 'the victim’s flows are all their own');
  await streaming.text();
  await rig.settled(mark);
});
