// Module customization hooks (node:module register) that load presencelb's TypeScript: each .ts file is transpiled
// on its own by esbuild to an ES module. register-ts.mjs installs them for the main thread and the data path's thread.
//
// Why not tsx's loader, which the tests and tools still use: tsx transpiles with esbuild's keepNames, which wraps
// every function expression whose name is inferred (`const f = () => ...`, `{ onNotify: (x) => ... }`) in a call
// that redefines the function's `name`, so that names survive esbuild renaming a local that shadows another (then a
// function's name, as a stack shows it, can end in a digit here; nothing in presencelb reads function names). Each
// such closure made at run time costs a defineProperty and a property dictionary of its own: about 2.4 KiB of heap
// per tracked user (the closures the presence adapter hands SIP.js), and work wherever one is made per request.
// ARCHITECTURE.md ("presencelb's own TypeScript loader") has the measurements.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stop, transform } from 'esbuild';

/**
 * IDLE_STOP_MS: esbuild transpiles in a child process of its own (its service), which would stay for the life of
 * presencelb, one per thread that loads TypeScript, though every module is loaded at start-up. It is stopped once no
 * file has been transpiled for this long; a later import starts it again.
 */
const IDLE_STOP_MS = 1000;
let inFlight = 0;
let idleTimer = null;

function idleStop() {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    idleTimer = null;
    if (inFlight === 0) stop();
  }, IDLE_STOP_MS);
  idleTimer.unref();
}

/** @type {{ sourceMaps: boolean }} */
let options = { sourceMaps: false };

/** initialize receives register-ts.mjs's data: whether to emit inline source maps. */
export function initialize(data) {
  if (data && typeof data.sourceMaps === 'boolean') options = { sourceMaps: data.sourceMaps };
}

/** load transpiles file: URLs ending in .ts and leaves every other module to the next loader. */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  inFlight++;
  try {
    const out = await transform(source, {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
      sourcefile: file,
      sourcemap: options.sourceMaps ? 'inline' : false,
      // As tsconfig.json's target (ES2022) has TypeScript emit class fields, and as tsx does for the tests.
      tsconfigRaw: { compilerOptions: { useDefineForClassFields: true } },
    });
    return { format: 'module', source: out.code, shortCircuit: true };
  } finally {
    inFlight--;
    idleStop();
  }
}
