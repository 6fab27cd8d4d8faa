/**
 * presence-heap: the main thread's live heap a tracked user costs in the presence adapter (what SIP.js and
 * presencelb hold per user: registration, publication, subscription), against real Kamailio, under presencelb's own
 * TypeScript loader (src/runtime/register-ts.mjs, what `presencelb` runs with) and under tsx (what tests and tools
 * run with), each in a child process of its own, in one run.
 *
 *   npm run bench -- presence-heap [--users 2000] [--batch 200]
 *
 * A child registers, publishes and subscribes --users users, --batch at a time, waits 2 s for the last NOTIFYs, and
 * reads heapUsed after two full collections (--expose-gc) before and after; the difference over the users is the
 * heap a user. It also counts the functions that carry a property dictionary of their own (a heap snapshot): what
 * esbuild's keepNames, which tsx always uses, gives each closure whose name it keeps.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { REPO_ROOT } from '../test/harness/envoy.ts';
import { fmt, table } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: { users: { type: 'string', default: '2000' }, batch: { type: 'string', default: '200' }, child: { type: 'boolean', default: false } },
});
const USERS = Number(args.users);
const BATCH = Number(args.batch);
for (const [k, v] of [['users', USERS], ['batch', BATCH]] as const) if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, not ${String(args[k])}`);

/** Result is what a child prints as its last line. */
interface Result {
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly perUser: number;
  readonly dictionaryClosures: number;
}

if (args.child) {
  process.stdout.write(`${JSON.stringify(await measure())}\n`);
  process.exit(0);
}

const LOADERS = [
  { name: 'presencelb (src/runtime/register-ts.mjs)', arg: path.join(REPO_ROOT, 'src/runtime/register-ts.mjs') },
  { name: 'tsx', arg: 'tsx' },
];
const results: Array<{ name: string; r: Result }> = [];
for (const l of LOADERS) {
  process.stderr.write(`# ${l.name}: ${USERS} users against Kamailio\n`);
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', l.arg, path.join(REPO_ROOT, 'bench/presence-heap.ts'), '--child', '--users', String(USERS), '--batch', String(BATCH)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  results.push({ name: l.name, r: JSON.parse(out.trim().split('\n').pop()!) as Result });
}
const mib = (b: number) => fmt(b / 1048576, 1);
process.stdout.write(`presence adapter's heap a tracked user, ${USERS} users registered, published and subscribed against Kamailio:\n`);
process.stdout.write(`${table([
  ['loader', 'heap before (MiB)', 'heap after (MiB)', 'KiB a user', 'functions with a property dictionary'],
  ...results.map(({ name, r }) => [name, mib(r.heapBefore), mib(r.heapAfter), fmt(r.perUser / 1024, 2), String(r.dictionaryClosures)]),
])}\n`);
process.stdout.write(`presencelb's loader / tsx, heap a user: ${fmt(results[0]!.r.perUser / results[1]!.r.perUser, 3)}\n`);

async function measure(): Promise<Result> {
  const { startKamailio } = await import('../test/harness/kamailio.ts');
  const { makeClient, newUser } = await import('../test/presence/helpers.ts');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const heapUsed = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const nop = () => undefined;
  const silent = { debug: nop, info: nop, warn: nop, error: nop, child: () => silent };
  const kamailio = await startKamailio();
  try {
    const { client } = makeClient(kamailio.tcpUrl, { opTimeoutMs: 20000, log: silent });
    await client.start();
    const heapBefore = heapUsed();
    const users = Array.from({ length: USERS }, () => newUser());
    for (let i = 0; i < USERS; i += BATCH) {
      await Promise.all(users.slice(i, i + BATCH).map(async (u) => {
        await client.register(u);
        await client.publish(u, null);
        await client.subscribe(u);
      }));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const heapAfter = heapUsed();
    const dictionaryClosures = countDictionaryClosures();
    await client.stop();
    return { heapBefore, heapAfter, perUser: (heapAfter - heapBefore) / USERS, dictionaryClosures };
  } finally {
    await kamailio.stop();
  }
}

/** countDictionaryClosures takes a heap snapshot and counts the closures that have an own 'properties' store. */
function countDictionaryClosures(): number {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plb-bench-presence-heap-')), 'heap.heapsnapshot');
  v8.writeHeapSnapshot(file);
  try {
    const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[] } }; nodes: number[]; edges: number[]; strings: string[] };
    const { node_fields: nf, node_types: [types], edge_fields: ef } = snap.snapshot.meta;
    const [F, E] = [nf.length, ef.length];
    const [iType, iEdges, eName, eType] = [nf.indexOf('type'), nf.indexOf('edge_count'), ef.indexOf('name_or_index'), ef.indexOf('type')];
    const internal = (snap.snapshot.meta as unknown as { edge_types: [string[]] }).edge_types[0].indexOf('internal');
    let count = 0;
    let edge = 0;
    for (let n = 0; n < snap.nodes.length; n += F) {
      const edges = snap.nodes[n + iEdges]!;
      const closure = types[snap.nodes[n + iType]!] === 'closure';
      for (let k = 0; k < edges; k++, edge += E) {
        if (closure && snap.edges[edge + eType] === internal && snap.strings[snap.edges[edge + eName]!] === 'properties') count++;
      }
    }
    return count;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}
