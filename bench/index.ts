/**
 * The benchmark dispatcher: `npm run bench -- <name> [options]` runs bench/<name>.ts in a child process (Node with
 * the tsx loader, stdio inherited, exit status passed on); `npm run bench` alone lists the benchmarks. Benchmarks
 * print figures measured in one run (ratios, percentiles); they assert nothing and are not part of the test suite.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Bench is one runnable benchmark: its name on the command line, its file in bench/, and what it measures. */
interface Bench {
  readonly name: string;
  readonly file: string;
  readonly what: string;
}

/** BENCHES are the known benchmarks; any other bench/<name>.ts also runs when named. */
const BENCHES: readonly Bench[] = [
  {
    name: 'dataplane',
    file: 'dataplane.ts',
    what: 'issue 3: Envoy throughput and latency with no ext_proc, blocking ext_proc and observability ext_proc; presencelb CPU per 1,000 requests and RSS over a long run [--duration 300] [--phase 15] [--users 10000]',
  },
  {
    name: 'flow-log',
    file: 'flow-log.ts',
    what: "issue 3: presencelb's own CPU per flow in flow-log mode, following a flow log the benchmark writes (no Envoy, nothing else on the cores) [--users 10000] [--rate 8000] [--phase 20] [--repeat 3] [--span-hold-ms N] [--profile]",
  },
  {
    name: 'presence',
    file: 'presence.ts',
    what: 'issue 5: NOTIFY-to-decision latency per branch, decisions/s, and teardown time for 10,000 users against real Kamailio [--users 10000] [--rate 200] [--teardown-rate 500]',
  },
  {
    name: 'store',
    file: 'store.ts',
    what: 'issue 3: CPU (every thread) per flow stored in SQLite, the shipped store against the settings before 27 Nov 2026 [--users 10000] [--rate 7000] [--flows 200000]',
  },
  {
    name: 'presence-heap',
    file: 'presence-heap.ts',
    what: "issue 3: the main thread's heap a tracked user costs in the presence adapter, against real Kamailio, under presencelb's TypeScript loader and under tsx [--users 2000]",
  },
  { name: 'xds', file: 'xds-pin-cost.ts', what: 'issue 4: cost of a route update (pin) as the number of pinned users grows' },
  {
    name: 'xds-notify',
    file: 'xds-notify.ts',
    what: 'issue 4: NOTIFY to route update in force in a real Envoy, 10,000 tracked and 1,000 pinned users, over 200 changes [--pins header|routes] [--rate 20]',
  },
  { name: 'xds-fanout', file: 'xds-fanout.ts', what: 'issue 4: one route update fanned out to many ADS streams [--streams 1000] [--rounds 10]' },
];

function list(): void {
  process.stdout.write('usage: npm run bench -- <name> [options]\n\nbenchmarks:\n');
  for (const b of BENCHES) {
    const present = fs.existsSync(path.join(BENCH_DIR, b.file));
    process.stdout.write(`  ${b.name.padEnd(11)} bench/${b.file}${present ? '' : ' (not in this tree yet)'}\n      ${b.what}\n`);
  }
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || name === 'list') {
  list();
  process.exit(0);
}
const known = BENCHES.find((b) => b.name === name);
const file = path.join(BENCH_DIR, known?.file ?? `${name}.ts`);
if (!/^[a-z0-9-]+$/.test(name) || name === 'index' || !fs.existsSync(file)) {
  process.stderr.write(`unknown benchmark '${name}'${known ? ` (bench/${known.file} is not in this tree yet)` : ''}\n\n`);
  list();
  process.exit(2);
}
const child = spawn(process.execPath, ['--import', 'tsx', file, ...rest], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
