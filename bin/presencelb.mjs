#!/usr/bin/env node
// Entry point of the `presencelb` command: registers the tsx loader, then runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
