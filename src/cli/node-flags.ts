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
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
