#!/usr/bin/env node
// Entry point of the `presencelb` command: registers the tsx loader, then runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
// tsx turns Node's source-map support on, which maps every Error's stack when it is formatted. Envoy resets each
// ext_proc stream after the response headers, and Node makes an Error of each reset: mapping those stacks cost about
// a tenth of presencelb's CPU on the request path (bench/dataplane.ts profile). Stacks then name positions in the
// transpiled code (tsx keeps lines close to the source); PRESENCELB_SOURCE_MAPS=1 keeps the mapping for debugging.
if (process.env.PRESENCELB_SOURCE_MAPS !== '1') process.setSourceMapsEnabled(false);
await import('../src/cli/main.ts');
