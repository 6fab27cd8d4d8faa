/**
 * Identity from a trusted gateway's header (identity.source header, envoy/envoy-trusted-header.yaml), the test
 * acting as the gateway on 127.0.0.1. Bad identities are sent byte for byte on raw sockets, since what matters is
 * what Envoy itself does with them: some never reach presencelb (Envoy's HTTP/1 codec refuses the request and
 * closes the connection), the rest reach it and are answered 400. Either way nothing is stored and no application
 * server is asked. A client that is not the gateway cannot bring its own header at all. After each test no ext_proc
 * stream and no flow is left open.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { waitFor } from '../harness/ports.ts';
import { rawRequest, requestHead, startRig, type Rig } from './_rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ identity: 'header' });
});
test.after.always(async () => {
  await rig?.stop();
});

const send = (lines: readonly string[], o: { localAddress?: string } = {}) => rawRequest(rig.listenerPort, requestHead('/x', lines), o);
const protocolErrors = async () => Number((await rig.envoy.stats('^http\\.app\\.downstream_cx_protocol_error$'))['http.app.downstream_cx_protocol_error'] ?? 0);

test.serial('a valid header is the user: served, tracked, the application server sees it', async (t) => {
  const mark = rig.mark();
  const user = randomUUID();
  const r = await send([`x-user-id: ${user}`]);
  t.is(r.status, 200);
  t.true(r.body.includes(`"user":"${user}"`), 'the application server names the user');
  // Optional whitespace around the value is not part of it (RFC 9110 §5.5), and case does not matter.
  t.is((await send([`X-User-Id:   ${user.toUpperCase()}   `])).status, 200);
  const flows = await waitFor('both flows ended', async () => {
    const f = await rig.flowsOf(user);
    return (await rig.streamsOf(user)) === 2 && f.every((x: any) => x.end_reason === 'completed') ? f : null;
  });
  t.true(flows.every((f: any) => f.user_id === user));
  await rig.settled(mark);
});

test.serial('bad identities are rejected and never stored: what Envoy and presencelb each do with them', async (t) => {
  const mark = rig.mark();
  const flowsBefore = rig.counts()?.flowsTotal ?? 0;
  const before = await rig.rowCounts();
  const u = randomUUID();
  const secret = 'not-a-uuid-but-a-secret';
  // Answered 400 by presencelb with a coded error.
  const byPresencelb: [string, string[], string][] = [
    ['missing', [], 'IDENTITY_MISSING'],
    ['not a UUID', [`x-user-id: ${secret}`], 'IDENTITY_MALFORMED'],
    ['a UUID in braces', [`x-user-id: {${u}}`], 'IDENTITY_MALFORMED'],
    ['a URN', [`x-user-id: urn:uuid:${u}`], 'IDENTITY_MALFORMED'],
    ['empty', ['x-user-id: '], 'IDENTITY_MISSING'],
    ['two headers', [`x-user-id: ${u}`, `x-user-id: ${randomUUID()}`], 'IDENTITY_AMBIGUOUS'],
    ['two values in one header', [`x-user-id: ${u}, ${randomUUID()}`], 'IDENTITY_MALFORMED'],
    // A bare CR inside the value passes Envoy's codec and is part of the value presencelb sees.
    ['a bare CR in the value', [`x-user-id: ${u}\rx`], 'IDENTITY_MALFORMED'],
    // CRLF in the value ends the header line: the rest is a second header line.
    ['CRLF injection of a second header', [`x-user-id: ${u}\r\nx-user-id: ${randomUUID()}`], 'IDENTITY_AMBIGUOUS'],
    // An obsolete line folding continues the value (RFC 9112 §5.2): Envoy joins the lines.
    ['a folded value', [`x-user-id: ${u}`, ` ${u}`], 'IDENTITY_MALFORMED'],
    ['oversized (5,000 bytes)', [`x-user-id: ${'a'.repeat(5000)}`], 'IDENTITY_MALFORMED'],
  ];
  for (const [what, lines, code] of byPresencelb) {
    const r = await send(lines);
    t.is(r.status, 400, `${what}: ${r.raw.slice(0, 200)}`);
    t.is(JSON.parse(r.body).error, code, what);
    t.false(r.body.includes(secret), `${what}: the value is not echoed`);
  }
  // Refused by Envoy's codec before any filter runs: Envoy answers 400 or 431 itself (or closes the connection), and
  // presencelb never sees the request.
  const errorsBefore = await protocolErrors();
  const byEnvoy: [string, string[]][] = [
    ['a bare LF in the value', [`x-user-id: ${u.slice(0, 10)}\n${u.slice(10)}`]],
    ['a NUL in the value', [`x-user-id: ${u}\0`]],
    ['larger than Envoy’s 60 KiB header limit', [`x-user-id: ${'a'.repeat(70000)}`]],
  ];
  for (const [what, lines] of byEnvoy) {
    const r = await send(lines);
    t.true(r.status === 0 || (r.status >= 400 && r.status < 500), `${what}: Envoy's refusal (${JSON.stringify(r.raw.slice(0, 100))})`);
    t.false(r.body.includes('IDENTITY_'), `${what}: not presencelb's answer`);
  }
  t.is(await protocolErrors(), errorsBefore + byEnvoy.length, 'Envoy counted each as a protocol error');

  // presencelb saw every request Envoy let through, and none of those Envoy refused. It started no flow.
  const c = await rig.settled(mark);
  t.is(c.streamsTotal - mark, byPresencelb.length);
  t.is(c.flowsTotal, flowsBefore, 'no flow started');
  t.deepEqual(await rig.rowCounts(), before, 'no user and no flow stored');
  t.false(rig.plb.lines.some((l) => JSON.stringify(l).includes(secret)), 'the value is never logged');
  t.deepEqual(rig.plb.events(u), []);
});

test.serial('a client that is not the trusted gateway cannot bring its own identity header', async (t) => {
  const mark = rig.mark();
  const user = randomUUID();
  // From 127.0.0.2 (any source but the gateway's 127.0.0.1) every copy is removed before presencelb looks.
  for (const lines of [[`x-user-id: ${user}`], [`x-user-id: ${user}`, `X-USER-ID: ${user}`]]) {
    const r = await send(lines, { localAddress: '127.0.0.2' });
    t.is(r.status, 400);
    t.is(JSON.parse(r.body).error, 'IDENTITY_MISSING');
  }
  // The same request from the gateway is served.
  t.is((await send([`x-user-id: ${user}`])).status, 200);
  await waitFor('the gateway’s flow', async () => (await rig.flowsOf(user)).length === 1);
  t.is((await rig.flowsOf(user)).length, 1);
  await rig.settled(mark);
});

test.serial('a request Envoy answers itself, before any filter, records nothing: its log entry carries the client’s own header', async (t) => {
  const before = await rig.rowCounts();
  const flowsBefore = rig.counts()?.flowsTotal ?? 0;
  const user = randomUUID();
  // Envoy answers these itself, before the HTTP filters (the untrusted chain's header removal among them) run, and
  // still writes an access log entry: an upgrade it does not support (403, the entry has a request id and the
  // x-user-id the client sent; presencelb recorded a flow for that user before it required an application server),
  // and a request without a Host (400).
  const upgrade = ['GET /x HTTP/1.1', 'host: app', 'connection: upgrade', 'upgrade: nonsense', `x-user-id: ${user}`, '', ''].join('\r\n');
  const noHost = ['GET /x HTTP/1.1', 'connection: close', `x-user-id: ${user}`, '', ''].join('\r\n');
  for (const [head, status] of [[upgrade, 403], [noHost, 400]] as const) {
    for (const localAddress of ['127.0.0.2', '127.0.0.1']) {
      const r = await rawRequest(rig.listenerPort, head, { localAddress });
      t.is(r.status, status, r.raw.slice(0, 200));
    }
  }
  await new Promise((r) => setTimeout(r, 1000)); // past the log's 50 ms batches, and the worker's
  t.is(rig.counts()?.flowsTotal ?? 0, flowsBefore, 'no flow started');
  t.deepEqual(await rig.rowCounts(), before, 'no user and no flow stored');
  t.deepEqual(rig.plb.events(user), [], 'presencelb never heard of the user');
});
