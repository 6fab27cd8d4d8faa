/**
 * presencelb's own TypeScript loader (src/runtime/register-ts.mjs and ts-hooks.mjs), which bin/presencelb.mjs and the
 * data path's worker install in place of tsx's: closures keep fast properties (tsx's keepNames gives each a property
 * dictionary of its own), TypeScript's class-field semantics hold, and source maps are there only when asked for.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './compose-file.ts';

const REGISTER = path.join(ROOT, 'src/runtime/register-ts.mjs');

/** runTs writes source as a .ts module in a fresh directory and runs it with node's extra arguments; returns stdout. */
function runTs(source: string, nodeArgs: string[], env: NodeJS.ProcessEnv = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-ts-loader-'));
  try {
    const file = path.join(dir, 'probe.ts');
    fs.writeFileSync(file, source);
    return execFileSync(process.execPath, [...nodeArgs, file], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// A closure made at run time whose name JavaScript infers: keepNames redefines `name` on each such closure.
const CLOSURES = `
const make = (n: number) => { const onEvent = (x: number): number => x + n; return { onEvent }; };
const handler = make(1).onEvent;
// A V8 intrinsic (--allow-natives-syntax), which esbuild would not parse in the module itself.
const fast: boolean = new Function('f', 'return %HasFastProperties(f)')(handler);
console.log(JSON.stringify({ name: handler.name, fast, value: handler(1) }));
`;

test("closures made at run time keep V8's fast properties and their inferred names", (t) => {
  const ours = JSON.parse(runTs(CLOSURES, ['--allow-natives-syntax', '--import', REGISTER]));
  t.deepEqual(ours, { name: 'onEvent', fast: true, value: 2 });
  // The same module under tsx, which the loader replaces: this is the cost it avoids (and what makes this test fail
  // if bin/presencelb.mjs went back to a loader with keepNames).
  const tsx = JSON.parse(runTs(CLOSURES, ['--allow-natives-syntax', '--import', 'tsx']));
  t.deepEqual(tsx, { name: 'onEvent', fast: false, value: 2 });
});

test('bin/presencelb.mjs and the data path thread install this loader, not tsx', (t) => {
  for (const entry of ['bin/presencelb.mjs', 'src/dataplane/thread-entry.mjs']) {
    const text = fs.readFileSync(path.join(ROOT, entry), 'utf8');
    t.regex(text, /import '[./]+\/(src\/)?runtime\/register-ts\.mjs';/, entry);
    t.notRegex(text, /from 'tsx|import\('tsx|'tsx\//, entry);
  }
});

test('TypeScript class fields are defined as own properties (useDefineForClassFields, as tsconfig.json target ES2022)', (t) => {
  const out = runTs(`
class Base { constructor() { (this as any).init(); } init() {} }
class Child extends Base { field?: number; override init() { this.field = 1; } }
enum Mode { A = 'a', B = 'b' }
console.log(JSON.stringify({ field: new Child().field ?? null, own: Object.hasOwn(new Child(), 'field'), mode: Mode.B }));
`, ['--import', REGISTER]);
  // With [[Define]] semantics the field initialiser (undefined) runs after Base's constructor and overwrites init()'s 1.
  t.deepEqual(JSON.parse(out), { field: null, own: true, mode: 'b' });
});

test("stacks name the TypeScript source's lines with PRESENCELB_SOURCE_MAPS=1, and are left unmapped without it", (t) => {
  const probe = `type T = { a: number };\n\n\nconst x: T = { a: 1 };\nconsole.log(String(new Error('here').stack).split('\\n')[1]);\n`;
  t.regex(runTs(probe, ['--import', REGISTER], { PRESENCELB_SOURCE_MAPS: '1' }), /probe\.ts:5:\d+\)?$/m);
  t.notRegex(runTs(probe, ['--import', REGISTER], { PRESENCELB_SOURCE_MAPS: '' }), /probe\.ts:5:/);
});

test('a syntax error names the file and the position, and the process fails', (t) => {
  const err = t.throws(() => runTs('const broken = (;\n', ['--import', REGISTER], {}));
  t.regex(String((err as Error & { stderr?: string }).stderr ?? err?.message), /probe\.ts:1:\d+: ERROR: /);
});

test("esbuild's child process is stopped once nothing is transpiled for a second, and started again by a later import", (t) => {
  const out = runTs(`
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const esbuilds = () => fs.readdirSync('/proc/self/task').flatMap((task) => fs.readFileSync(\`/proc/self/task/\${task}/children\`, 'utf8').split(' ').filter(Boolean))
  .filter((pid) => { try { return fs.readFileSync(\`/proc/\${pid}/comm\`, 'utf8').trim() === 'esbuild'; } catch { return false; } }).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seen: number[] = [esbuilds()];
await sleep(2500);
seen.push(esbuilds());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plb-ts-later-'));
fs.writeFileSync(path.join(dir, 'later.ts'), 'export const later: number = 42;\\n');
const { later } = await import(path.join(dir, 'later.ts'));
seen.push(esbuilds(), later);
await sleep(2500);
seen.push(esbuilds());
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(seen));
`, ['--import', REGISTER]);
  // Running right after this module was transpiled; stopped; running again after the later import; stopped.
  t.deepEqual(JSON.parse(out), [1, 0, 1, 42, 0]);
});
