// Installs presencelb's TypeScript loader (ts-hooks.mjs) in the thread that imports this module: bin/presencelb.mjs
// for the main thread, dataplane/thread-entry.mjs for the data path's worker (a worker does not inherit hooks).
//
// Source maps are off unless PRESENCELB_SOURCE_MAPS=1: Envoy resets each ext_proc stream after the response headers
// and Node makes an Error of each reset; mapping those stacks cost about a tenth of presencelb's CPU on the request
// path (bench/dataplane.ts profile). Without maps, stacks name positions in the transpiled code.
import { register } from 'node:module';

const sourceMaps = process.env.PRESENCELB_SOURCE_MAPS === '1';
register('./ts-hooks.mjs', import.meta.url, { data: { sourceMaps } });
process.setSourceMapsEnabled(sourceMaps);
