#!/usr/bin/env node
// Entry point of the `presencelb` command: installs presencelb's TypeScript loader (src/runtime/register-ts.mjs,
// which also says why it is not tsx's), then runs the TypeScript CLI.
import '../src/runtime/register-ts.mjs';

await import('../src/cli/main.ts');
