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
 * --heap-growing-percent=20: after each full collection V8 lets the old space grow to 1.2 times what was live (at
 * least 8 MB more) before the next one, instead of a factor V8 picks from its GC and allocation speeds (up to 4).
 * What outlives the young generation here (open flows, spans, batches waiting for the store) dies within seconds,
 * so with V8's own factor the old space filled with garbage for minutes: measured with `npm run bench -- dataplane
 * --users 10000 --duration 300 --phase 5 --repeat 1 --profile never --plb-nice 10` (27 November 2026, 10:22 and
 * 10:47 UTC; the long run samples the old space from the metrics endpoint), the main thread's old space climbed
 * from 221 MiB live to 523 MiB in the first two minutes before a full collection, and RSS from 660 to 930 MiB; with
 * the flag the old space stayed between 215 and 288 MiB, RSS between 646 and 698 MiB, and presencelb's CPU a
 * request in the long run was the same (0.291 ms without, 0.275 and 0.291 with). A 600 s long run at 11:26: RSS
 * 666–706 MiB after its first four minutes (ARCHITECTURE.md, "The old space kept near what is live").
 * test/deploy/node-flags.test.ts checks the effect.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32', '--heap-growing-percent=20'];
