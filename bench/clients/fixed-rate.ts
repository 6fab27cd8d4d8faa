/**
 * An open-loop fixed-rate HTTP/1.1 client, run in its own process by bench/lib/fixed-rate.ts (wrk2 is not packaged
 * in Debian, and h2load cannot vary the identity header per request). Request i is due at t0 + i/rate whatever
 * happened to earlier ones, and its latency is measured from that due time to the end of its response, so a
 * stalled server shows up in the percentiles instead of slowing the client down (no coordinated omission).
 * Each request names a user picked at random from the users file. Keep-alive connections, at most --connections.
 *
 * It writes prepared request bytes to plain TCP sockets and reads only the status line and the framing of each
 * response (Content-Length, chunked, or until the server closes; `connection: close` is honoured), because it
 * shares the machine with what it measures: node:http's client cost 0.34–0.55 ms of CPU a request here at about
 * 900 req/s, more than Envoy's own work, and that CPU was taken from the processes under test at the very rate
 * where their latency is read.
 *
 *   node --import tsx bench/clients/fixed-rate.ts --url URL --users FILE --rate R --seconds S [--connections C]
 *                                                 [--latencies FILE] [--warmup 1]
 *
 * Prints one JSON line: {sent, ok, non2xx, errors, unfinished, seconds, achievedRps, warmup: {sent, done},
 * latencyMs: {p50, p90, p99, p999, max}, maxLagMs, cpuSec}: every figure but warmup and cpuSec is of the measured
 * --seconds only, after --warmup seconds of the same load whose requests are left out. maxLagMs is the worst delay
 * between a measured request's due time and the moment it was handed to the socket pool (the client's own lag);
 * cpuSec is this client's CPU time, warm-up included. --latencies FILE also writes every measured request's latency
 * (ms, in request order, Infinity if unfinished) to FILE as little-endian float32s, so that several runs can be
 * pooled (bench/lib/fixed-rate.ts readLatencies).
 */
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { atRank } from '../lib/stats.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    users: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '256' },
    latencies: { type: 'string' },
    warmup: { type: 'string', default: '1' },
  },
});
const url = new URL(values.url!);
const users = fs.readFileSync(values.users!, 'utf8').split('\n').filter(Boolean);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const maxConnections = Number(values.connections);
/**
 * warm: requests sent first, at the same rate, and left out of every figure. A fresh client's first second measured
 * itself: compiling its code, opening connections and their upstream connections in Envoy (the probe of 28 November
 * 2026 found the slowest 1% of plain Envoy's requests at 3,200 req/s in the first 0.7 s of most phases).
 */
const warmupSec = Number(values.warmup);
const warm = Math.round(rate * warmupSec);
if (!(warm >= 0)) throw new Error('--warmup must be >= 0 (seconds)');
const measured = Math.round(rate * seconds);
const total = warm + measured;
const port = Number(url.port || 80);
const requests = users.map((u) => Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nx-user-id: ${u}\r\n\r\n`));

const latency = new Float64Array(total).fill(Infinity); // unfinished requests count as infinitely slow
let done = 0;
let warmDone = 0;
let ok = 0;
let non2xx = 0;
let errors = 0;
let sent = 0;
let maxLag = 0;
const t0 = performance.now() + 50;

/** Conn is one keep-alive connection with at most one request in flight. */
class Conn {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private request = -1;
  private due = 0;
  /** body: bytes of the current response's body still to come; -1 while its head is being read. */
  private body = -1;
  private chunked = false;
  /** untilClose: the body ends when the server closes (no Content-Length, not chunked); close: do not reuse. */
  private untilClose = false;
  private close = false;
  private status = 0;
  private connected = false;
  private user = 0;

  constructor() {
    this.socket = net.connect({ host: url.hostname, port, noDelay: true });
    this.socket.on('connect', () => {
      this.connected = true;
      if (this.request >= 0) this.socket.write(requests[this.user]!);
    });
    this.socket.on('data', (d: Buffer) => this.read(d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => this.closed());
  }

  /** send starts request i (due at due) for user index u on this idle connection. */
  send(i: number, due: number, u: number): void {
    this.request = i;
    this.due = due;
    this.user = u;
    this.body = -1;
    this.chunked = false;
    this.untilClose = false;
    this.close = false;
    if (this.connected) this.socket.write(requests[u]!);
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.request >= 0) {
      if (this.body < 0) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        this.status = Number(head.slice(9, 12));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        this.chunked = !cl && /\r\ntransfer-encoding:\s*chunked/i.test(head);
        this.close = /\r\nconnection:\s*close/i.test(head);
        const bodyless = this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200);
        this.untilClose = !cl && !this.chunked && !bodyless;
        this.body = cl ? Number(cl[1]) : 0;
      }
      if (this.untilClose) return; // completed by closed()
      if (this.chunked) {
        // Chunked: skip chunks until the last (size 0) and its empty trailer section.
        const last = this.buf.indexOf('\r\n0\r\n\r\n');
        const first = this.buf.subarray(0, 5).toString('latin1') === '0\r\n\r\n';
        if (!first && last < 0) return;
        this.buf = this.buf.subarray(first ? 5 : last + 7);
        this.complete(true);
        continue;
      }
      if (this.buf.length < this.body) return;
      this.buf = this.buf.subarray(this.body);
      this.complete(true);
    }
  }

  private complete(answered: boolean): void {
    const i = this.request;
    this.request = -1;
    latency[i] = performance.now() - this.due;
    if (i < warm) warmDone++;
    else if (!answered) errors++;
    else if (this.status >= 200 && this.status < 300) ok++;
    else non2xx++;
    if (++done === total) resolveDone();
    if (!answered) return;
    if (this.close || this.buf.length > 0) {
      // Not reusable: the server is closing it, or sent bytes no request asked for.
      this.socket.destroy();
      return;
    }
    idle.push(this);
    drain();
  }

  private closed(): void {
    open--;
    // A body that lasts until the close is complete now; any other request in flight failed.
    if (this.request >= 0) this.complete(this.untilClose && this.body >= 0);
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    drain();
  }
}

const idle: Conn[] = [];
const waiting: number[] = [];
let open = 0;

function fire(i: number): void {
  const due = t0 + (i * 1000) / rate;
  if (i >= warm) maxLag = Math.max(maxLag, performance.now() - due);
  waiting.push(i);
  drain();
}

/** drain hands waiting requests to idle connections, opening new ones up to maxConnections. */
function drain(): void {
  while (waiting.length > 0) {
    let c = idle.pop();
    if (!c) {
      if (open >= maxConnections) return;
      open++;
      c = new Conn();
    }
    const i = waiting.shift()!;
    c.send(i, t0 + (i * 1000) / rate, Math.floor(Math.random() * users.length));
  }
}

let resolveDone: () => void = () => undefined;
const allDone = new Promise<void>((r) => (resolveDone = r));

function tick(): void {
  const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
  while (sent < due) fire(sent++);
  if (sent < total) setTimeout(tick, 1);
}
setTimeout(tick, 50);
await Promise.race([allDone, new Promise((r) => setTimeout(r, (warmupSec + seconds + 15) * 1000))]);
// The measured window starts when the first measured request is due.
const elapsed = (performance.now() - t0 - (warm * 1000) / rate) / 1000;
const measuredDone = done - warmDone;
if (values.latencies) fs.writeFileSync(values.latencies, Buffer.from(Float32Array.from(latency.subarray(warm, total)).buffer));
const lat = Float64Array.from(latency.subarray(warm, total)).sort();
const at = (p: number) => atRank(lat, p);
process.stdout.write(
  `${JSON.stringify({
    sent: Math.max(0, sent - warm),
    ok,
    non2xx,
    errors,
    unfinished: measured - measuredDone,
    seconds: elapsed,
    achievedRps: measuredDone / elapsed,
    warmup: { sent: Math.min(sent, warm), done: warmDone },
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100) },
    maxLagMs: maxLag,
    cpuSec: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  })}\n`,
);
process.exit(0);
