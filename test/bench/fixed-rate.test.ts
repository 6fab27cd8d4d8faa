/**
 * The benchmark's fixed-rate client and the pooling its targets read: every request's latency is written, in
 * request order, and runs pool into one set of percentiles.
 */
import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pooledPercentiles, readLatencies, startFixedRate } from '../../bench/lib/fixed-rate.ts';

test('pooledPercentiles ranks every request of every run together (nearest rank); Infinity counts as slowest', (t) => {
  const a = Float32Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  const b = Float32Array.from({ length: 100 }, (_, i) => 101 + i); // 101..200
  const p = pooledPercentiles([a, b]);
  t.is(p.count, 200);
  t.is(p.p50, 100);
  t.is(p.p99, 198);
  t.is(p.p999, 200);
  t.is(pooledPercentiles([Float32Array.from([1, 2, Infinity])]).p99, Infinity);
});

test('the client writes each request latency to --latencies, as many as it was asked to send', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-fixed-rate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const users = path.join(dir, 'users.txt');
  fs.writeFileSync(users, 'u1\nu2\n');
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(String(req.headers['x-user-id']));
    // Every tenth request answers 20 ms late: the file must show those as the slow ones.
    setTimeout(() => res.end('ok'), seen.length % 10 === 0 ? 20 : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const file = path.join(dir, 'lat.f32');
  const r = await startFixedRate({ url: `http://127.0.0.1:${port}/x`, usersFile: users, rate: 100, seconds: 1, latenciesFile: file }).done;
  t.is(r.ok, 100);
  const lat = readLatencies(file);
  t.is(lat.length, 100);
  t.true(lat.every((x) => Number.isFinite(x) && x >= 0));
  const slow = [...lat].filter((x) => x >= 19).length;
  t.true(slow >= 9 && slow <= 11, `about one request in ten took >= 20 ms (${slow})`);
  const p = pooledPercentiles([lat]);
  t.true(Math.abs(p.p99 - r.latencyMs.p99) < 0.01, 'the pooled p99 of one run is the run\'s own p99');
  t.deepEqual([...new Set(seen)].sort(), ['u1', 'u2']);
});

test('the warm-up runs at the same rate first and is left out of every figure and of --latencies', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-fixed-rate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const users = path.join(dir, 'users.txt');
  fs.writeFileSync(users, 'u1\n');
  let seen = 0;
  // The first 50 requests (the warm-up's, at 100 req/s for 0.5 s) answer 40 ms late; none of the measured ones do.
  const server = http.createServer((_req, res) => {
    seen++;
    setTimeout(() => res.end('ok'), seen <= 50 ? 40 : 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const file = path.join(dir, 'lat.f32');
  const r = await startFixedRate({ url: `http://127.0.0.1:${port}/x`, usersFile: users, rate: 100, seconds: 1, warmupSec: 0.5, latenciesFile: file }).done;
  t.is(seen, 150);
  t.deepEqual(r.warmup, { sent: 50, done: 50 });
  t.is(r.ok, 100);
  t.is(r.sent, 100);
  t.is(r.unfinished, 0);
  const lat = readLatencies(file);
  t.is(lat.length, 100);
  const slow = [...lat].filter((x) => x >= 40).length;
  t.true(slow <= 2, `the warm-up's 40 ms answers are not among the measured requests (${slow} of 100 took >= 40 ms)`);
  t.true(r.achievedRps > 80 && r.achievedRps < 120, `the rate is read over the measured second only (${r.achievedRps})`);
});
