/**
 * An open-loop fixed-rate HTTP/1.1 client, run in its own process by bench/lib/fixed-rate.ts (wrk2 is not packaged
 * in Debian, and h2load cannot vary the identity header per request). Request i is due at t0 + i/rate whatever
 * happened to earlier ones, and its latency is measured from that due time to the end of its response, so a
 * stalled server shows up in the percentiles instead of slowing the client down (no coordinated omission).
 * Each request names a user picked at random from the users file. Keep-alive connections, at most --connections.
 *
 *   node --import tsx bench/clients/fixed-rate.ts --url URL --users FILE --rate R --seconds S [--connections C]
 *
 * Prints one JSON line: {sent, ok, non2xx, errors, unfinished, seconds, achievedRps,
 * latencyMs: {p50, p90, p99, p999, max}, maxLagMs, cpuSec}. maxLagMs is the worst delay between a request's due time
 * and the moment it was handed to the socket pool (the client's own lag); cpuSec is this client's CPU time.
 */
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    users: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '256' },
  },
});
const url = new URL(values.url!);
const users = fs.readFileSync(values.users!, 'utf8').split('\n').filter(Boolean);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const total = Math.round(rate * seconds);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.connections), maxFreeSockets: Number(values.connections) });

const latency = new Float64Array(total).fill(Infinity); // unfinished requests count as infinitely slow
let done = 0;
let ok = 0;
let non2xx = 0;
let errors = 0;
let sent = 0;
let maxLag = 0;
const t0 = performance.now() + 50;

function fire(i: number): void {
  const due = t0 + (i * 1000) / rate;
  maxLag = Math.max(maxLag, performance.now() - due);
  const user = users[Math.floor(Math.random() * users.length)]!;
  const req = http.request({ host: url.hostname, port: url.port, path: '/', agent, headers: { 'x-user-id': user } }, (res) => {
    res.on('data', () => undefined);
    res.on('end', () => {
      latency[i] = performance.now() - due;
      if (res.statusCode! >= 200 && res.statusCode! < 300) ok++;
      else non2xx++;
      finish();
    });
  });
  req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  req.on('error', () => {
    latency[i] = performance.now() - due;
    errors++;
    finish();
  });
  req.end();
}

let resolveDone: () => void = () => undefined;
const allDone = new Promise<void>((r) => (resolveDone = r));
function finish(): void {
  if (++done === total) resolveDone();
}

function tick(): void {
  const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
  while (sent < due) fire(sent++);
  if (sent < total) setTimeout(tick, 1);
}
setTimeout(tick, 50);
await Promise.race([allDone, new Promise((r) => setTimeout(r, (seconds + 15) * 1000))]);
const elapsed = (performance.now() - t0) / 1000;
const lat = Float64Array.from(latency.subarray(0, total)).sort();
const at = (p: number) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))] ?? NaN;
process.stdout.write(
  `${JSON.stringify({
    sent,
    ok,
    non2xx,
    errors,
    unfinished: total - done,
    seconds: elapsed,
    achievedRps: done / elapsed,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100) },
    maxLagMs: maxLag,
    cpuSec: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  })}\n`,
);
agent.destroy();
process.exit(0);
