/**
 * Users' SIP devices, many at once, for bench/presence.ts: one WebSocket to Kamailio (RFC 7118) over which this
 * process registers a device binding for each user it is told to, publishes each user's device tuple
 * (PUBLISH to sip:<uuid>@<domain>, one presentity per user, as FACTS.md describes publishing for many presentities
 * from one user agent) at a fixed rate, and answers every request Kamailio relays to it (the reconnect MESSAGEs)
 * with 200, recording when each arrived. If Kamailio closes the WebSocket it reconnects and registers the devices
 * again (and says how often in its `messages` report).
 *
 * SIP messages are written and read here by hand, not with SIP.js: one stock SIP.js user agent manages a few
 * hundred transactions a second (FACTS.md), and this load generator must stay far from being the bottleneck. It
 * only needs the status line and Call-ID of responses, and to echo Via/From/To/Call-ID/CSeq in its answers.
 *
 *   node --import tsx bench/clients/sip-load.ts <ws-url> <domain>      (talks to its parent over IPC)
 *   parent → {id, cmd: 'register', users, concurrency} | {id, cmd: 'publish', users, rate, basic} | {id, cmd: 'messages'}
 *   child  → {ready} | {id, result}   (times are epoch milliseconds with fractions)
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';

const [wsUrl, domain] = process.argv.slice(2) as [string, string];
const HOST = `${randomBytes(6).toString('hex')}.invalid`;
const now = () => performance.timeOrigin + performance.now();
const token = () => randomBytes(8).toString('hex');

const pending = new Map<string, (status: number) => void>();
const messages: Array<[string, number]> = [];
let otherRequests = 0;
/** registered are the users with a device binding, registered again after a reconnect (the binding names the old connection). */
const registered = new Set<string>();
let reconnects = 0;
let ws: WebSocket;
let open: Promise<void>;

function header(lines: readonly string[], names: readonly string[]): string[] {
  return lines.filter((l) => {
    const i = l.indexOf(':');
    return i > 0 && names.includes(l.slice(0, i).trim().toLowerCase());
  });
}

function onResponse(head: string[]): void {
  const status = Number(head[0]!.split(' ')[1]);
  if (status < 200) return;
  const callId = header(head, ['call-id', 'i'])[0]?.replace(/^[^:]*:\s*/, '');
  const done = callId ? pending.get(callId) : undefined;
  if (!done) return;
  pending.delete(callId!);
  done(status);
}

/** onRequest answers 200 to anything Kamailio sends (MESSAGE, OPTIONS), echoing the headers RFC 3261 8.2.6 asks. */
function onRequest(head: string[]): void {
  const [method, ruri] = head[0]!.split(' ');
  if (method === 'MESSAGE') messages.push([/^sips?:([^@;>]+)@/.exec(ruri ?? '')?.[1] ?? '?', now()]);
  else otherRequests++;
  if (method === 'ACK') return;
  const to = header(head, ['to', 't'])[0] ?? 'To: <sip:unknown@invalid>';
  const reply = [
    'SIP/2.0 200 OK',
    ...header(head, ['via', 'v']),
    ...header(head, ['from', 'f']),
    /;\s*tag=/i.test(to) ? to : `${to};tag=${token()}`,
    ...header(head, ['call-id', 'i']),
    ...header(head, ['cseq']),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  ws.send(reply);
}

/**
 * connect opens the WebSocket. Kamailio's WebSocket keepalive may close a connection whose pong it did not see in
 * time (seen under load): then this reconnects at once, registers the devices again, and counts it.
 */
function connect(first: boolean): void {
  ws = new WebSocket(wsUrl, 'sip');
  open = new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => undefined); // after the open, 'close' follows every error and reconnects
  open.then(
    () => {
      if (first) process.send!({ ready: true });
      else void register([...registered], 100);
    },
    (e: Error) => {
      process.stderr.write(`sip-load: ${e.message}\n`);
      process.exit(1);
    },
  );
  ws.on('message', (data) => {
    const text = data.toString();
    const end = text.indexOf('\r\n\r\n');
    const head = (end >= 0 ? text.slice(0, end) : text).split('\r\n');
    if (head[0]!.startsWith('SIP/2.0 ')) onResponse(head);
    else onRequest(head);
  });
  ws.once('close', () => {
    reconnects++;
    process.stderr.write('sip-load: Kamailio closed the WebSocket; reconnecting\n');
    setTimeout(() => connect(false), 100);
  });
}

/** request sends one out-of-dialog request and resolves with the final status (408 after 32 s, as Timer F). */
async function request(method: string, ruri: string, user: string, extra: readonly string[], body = ''): Promise<number> {
  await open;
  const callId = `${token()}@${HOST}`;
  const msg = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/WS ${HOST};branch=z9hG4bK${token()};rport`,
    'Max-Forwards: 70',
    `To: <sip:${user}@${domain}>`,
    `From: <sip:${user}@${domain}>;tag=${token()}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(callId);
      resolve(408);
    }, 32000);
    pending.set(callId, (status) => {
      clearTimeout(timer);
      resolve(status);
    });
    ws.send(msg);
  });
}

const count = (statuses: Record<string, number>, s: number) => (statuses[s] = (statuses[s] ?? 0) + 1);

async function register(users: readonly string[], concurrency: number) {
  const t0 = now();
  const statuses: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < users.length) {
        const user = users[next++]!;
        const s = await request('REGISTER', `sip:${domain}`, user, [`Contact: <sip:${user}@${HOST};transport=ws>;expires=3600`, 'Expires: 3600']);
        if (s >= 200 && s < 300) registered.add(user);
        count(statuses, s);
      }
    }),
  );
  return { statuses, seconds: (now() - t0) / 1000 };
}

/** publish sends one PUBLISH per user, user i due at t0 + i/rate (open loop), and waits for every final answer. */
async function publish(users: readonly string[], rate: number, basic: string) {
  const sentAt = new Array<number>(users.length).fill(NaN);
  const answeredAt = new Array<number>(users.length).fill(NaN);
  const statuses: Record<string, number> = {};
  const t0 = now() + 20;
  const all: Promise<void>[] = [];
  let sent = 0;
  let maxLagMs = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(users.length, Math.floor(((now() - t0) * rate) / 1000) + 1);
      while (sent < due) {
        const i = sent++;
        const user = users[i]!;
        const pidf =
          `<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:${user}@${domain}">` +
          `<tuple id="device"><status><basic>${basic}</basic></status></tuple></presence>`;
        maxLagMs = Math.max(maxLagMs, now() - (t0 + (i * 1000) / rate));
        sentAt[i] = now();
        all.push(
          request('PUBLISH', `sip:${user}@${domain}`, user, ['Event: presence', 'Expires: 600', 'Content-Type: application/pidf+xml'], pidf).then((s) => {
            answeredAt[i] = now();
            count(statuses, s);
          }),
        );
      }
      if (sent < users.length) setTimeout(tick, 1);
      else resolve();
    };
    setTimeout(tick, 20);
  });
  await Promise.all(all);
  return { sentAt, answeredAt, statuses, maxLagMs, seconds: (now() - t0) / 1000 };
}

type Command =
  | { id: number; cmd: 'register'; users: string[]; concurrency?: number }
  | { id: number; cmd: 'publish'; users: string[]; rate: number; basic: string }
  | { id: number; cmd: 'messages' };

connect(true);
process.on('message', (m: Command) => {
  void (async () => {
    const result =
      m.cmd === 'register'
        ? await register(m.users, m.concurrency ?? 100)
        : m.cmd === 'publish'
          ? await publish(m.users, m.rate, m.basic)
          : { messages, otherRequests, reconnects, cpuSec: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 };
    process.send!({ id: m.id, result });
  })();
});
process.on('disconnect', () => process.exit(0));
