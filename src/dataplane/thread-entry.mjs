// The data-path worker thread's entry point (dataplane-thread.ts starts it). A worker does not inherit the loader
// that bin/presencelb.mjs installs, so it installs its own before loading the TypeScript worker.
import '../runtime/register-ts.mjs';

await import('./thread-worker.ts');
