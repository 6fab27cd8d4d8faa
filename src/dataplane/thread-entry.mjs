// The data-path worker thread's entry point (dataplane-thread.ts starts it). A worker does not inherit the tsx loader
// that bin/presencelb.mjs registers, so it registers its own before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
if (process.env.PRESENCELB_SOURCE_MAPS !== '1') process.setSourceMapsEnabled(false);
await import('./thread-worker.ts');
