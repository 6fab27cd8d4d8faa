/**
 * NODE_FLAGS are the V8 options `presencelb serve` runs with. They must be on node's command line (V8 sizes its heap
 * when the process starts; setting them from inside has no effect), so every launcher passes them: the Dockerfile's
 * ENTRYPOINT (checked in test/deploy/compose.test.ts), scripts/up.sh (test/deploy/node-flags.test.ts), the test
 * harness and the benchmarks.
 *
 * --max-semi-space-size=32 (MB; the default here is 16): the young generation holds a request's and a SIP
 * message's short-lived objects until they die, instead of promoting them to the old space. Measured with `npm run
 * bench -- dataplane --users 10000 --duration 300` (ARCHITECTURE.md, "Measurements"): over the 300 s long run, RSS
 * went from a slow climb in steps (944 → 997 MiB) to a sawtooth that returns to its floor (580 to 740 MiB, ending at
 * 625), and presencelb's CPU per request fell from 0.69 to 0.59 ms (blocking) and from 0.59 to 0.37 ms
 * (observability).
 *
 * Tried and not used: --heap-growing-percent=20 (27 November 2026). After each full collection it lets the old space
 * grow to 1.2 times what was live, instead of a factor V8 picks from its own speeds (up to 4). With `npm run bench --
 * dataplane --users 10000 --duration 300 --phase 5 --repeat 1 --profile never --plb-nice 10` (10:22 and 10:47 UTC)
 * the main thread's old space, which without it filled with garbage from 221 to 523 MiB between two full
 * collections (RSS 660 → 930 MiB), stayed at 215–288 MiB (RSS 646–698), collected every 15–20 s. But decisions got
 * slower: `npm run bench -- presence --profile never` gave a NOTIFY → teardown p99 of 154 and 225 ms with the flag
 * against 91 ms without (target 100 ms; 12:24–12:36 UTC), on the main thread that also collects that old space.
 * ARCHITECTURE.md, "The old space kept near what is live (tried, not shipped)", has the figures.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
