/**
 * CPU profiles of a running Node process over a chosen window, through its inspector (the process was started
 * with --inspect): the V8 sampling profiler that `node --cpu-prof` uses, started and stopped over the DevTools
 * protocol so the profile covers only the measured phase. The profile is saved as a .cpuprofile (open it in
 * Chrome DevTools) and summarized: self and inclusive time per function, and self time per code area.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { REPO_ROOT } from '../../test/harness/envoy.ts';
import { fmt, table } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
/** CpuProfile is the V8 profile format (Profiler.stop's result, a .cpuprofile file). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

/** Session is where DevTools protocol commands go: the process's main thread, or one of its worker threads. */
interface Session {
  send(method: string, params?: Record<string, unknown>): Promise<any>;
}

/** Inspector is one DevTools protocol session, with the main thread; workers() opens sessions with its workers. */
class Inspector implements Session {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly events = new Set<(method: string, params: any) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown };
      if (m.id === undefined) {
        for (const fn of this.events) fn(m.method ?? '', m.params);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.message));
      else p.resolve(m.result);
    });
  }

  static connect(url: string): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 1 << 30 });
      ws.once('open', () => resolve(new Inspector(ws)));
      ws.once('error', reject);
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * workers attaches to the process's worker threads (the NodeWorker domain, as DevTools does) and resolves with a
   * session for each, by the worker's title ('[worker N] name'), once none has been announced for settleMs.
   */
  async workers(settleMs = 300): Promise<Map<string, Session>> {
    const found = new Map<string, Session>();
    const routes = new Map<string, Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>>();
    let last = Date.now();
    this.events.add((method, params) => {
      if (method === 'NodeWorker.attachedToWorker') {
        const sessionId = params.sessionId as string;
        const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
        routes.set(sessionId, pending);
        let next = 1;
        found.set(String(params.workerInfo?.title ?? sessionId), {
          send: (m, p = {}) =>
            new Promise((resolve, reject) => {
              const id = next++;
              pending.set(id, { resolve, reject });
              this.send('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method: m, params: p }) }).catch((e: Error) => {
                pending.delete(id);
                reject(e);
              });
            }),
        });
        last = Date.now();
      } else if (method === 'NodeWorker.detachedFromWorker') {
        // The worker ended (a restart, say): what was asked of it will not be answered.
        const pending = routes.get(params.sessionId as string);
        for (const p of pending?.values() ?? []) p.reject(new Error('worker thread detached'));
        pending?.clear();
      } else if (method === 'NodeWorker.receivedMessageFromWorker') {
        const m = JSON.parse(params.message as string) as { id?: number; result?: unknown; error?: { message: string } };
        const p = m.id !== undefined ? routes.get(params.sessionId as string)?.get(m.id) : undefined;
        if (!p) return;
        routes.get(params.sessionId as string)!.delete(m.id!);
        if (m.error) p.reject(new Error(m.error.message));
        else p.resolve(m.result);
      }
    });
    await this.send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    while (Date.now() - last < settleMs) await new Promise((r) => setTimeout(r, 50));
    return found;
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * profileWindow profiles the process behind inspectorUrl while fn runs, its main thread and every worker thread
 * (presencelb's data path runs in one, named 'presencelb-dataplane'); samples every intervalUs microseconds.
 */
export function profileWindow<T>(inspectorUrl: string, fn: () => Promise<T>, intervalUs = 500): Promise<{ result: T; profile: CpuProfile; workers: Map<string, CpuProfile> }> {
  return withInspector(inspectorUrl, async (ins) => {
    const sessions: [string, Session][] = [['main', ins], ...(await ins.workers())];
    for (const [, s] of sessions) {
      await s.send('Profiler.enable');
      await s.send('Profiler.setSamplingInterval', { interval: intervalUs });
      await s.send('Profiler.start');
    }
    const result = await fn();
    const profiles = new Map<string, CpuProfile>();
    for (const [name, s] of sessions) {
      // A worker that ended meanwhile has no profile to give; the main thread's failure is the window's.
      const stopped = (await s.send('Profiler.stop').catch((e: Error) => (name === 'main' ? Promise.reject(e) : null))) as { profile: CpuProfile } | null;
      if (!stopped) continue;
      profiles.set(name, stopped.profile);
      await s.send('Profiler.disable').catch(() => undefined);
    }
    const profile = profiles.get('main')!;
    profiles.delete('main');
    return { result, profile, workers: profiles };
  });
}

/** withInspector runs fn with a DevTools protocol session to the process behind inspectorUrl, closed afterwards. */
async function withInspector<T>(inspectorUrl: string, fn: (ins: Inspector) => Promise<T>): Promise<T> {
  const ins = await Inspector.connect(inspectorUrl);
  try {
    return await fn(ins);
  } finally {
    ins.close();
  }
}

function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(REPO_ROOT)) return u.slice(REPO_ROOT.length);
  return u;
}

/** areaOf buckets a frame: an npm package, a folder of src/, a Node built-in, or V8's pseudo-frames. */
function areaOf(cf: CallFrame): string {
  if (!cf.url) return cf.functionName.startsWith('(') ? cf.functionName : '(native)';
  const u = cf.url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + '/node_modules/'.length).split('/');
    return `npm ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (u.startsWith('node:')) return `node ${u.slice(5).split('/')[0]}`;
  if (u.startsWith(REPO_ROOT)) {
    const rel = u.slice(REPO_ROOT.length).split('/');
    return rel[0] === 'src' ? `src/${rel[1]}` : rel[0]!;
  }
  return 'other';
}

/** ProfileSummary is where the CPU time went: shares of the busy (non-idle) samples, by function and by area. */
export interface ProfileSummary {
  readonly samples: number;
  readonly busyShare: number;
  readonly wallMs: number;
  readonly topSelf: readonly { fn: string; pct: number }[];
  readonly topInclusive: readonly { fn: string; pct: number }[];
  readonly areas: readonly { area: string; pct: number }[];
}

/** summarizeProfile computes self and inclusive shares per function (recursion counted once) and self per area. */
export function summarizeProfile(p: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** callerUrl is the URL of the nearest JavaScript caller of a native frame ('' if none). */
  const callerUrl = (n: ProfileNode): string => {
    for (let id = parent.get(n.id); id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (cf.url) return cf.url;
    }
    return '';
  };
  const isPseudo = (cf: CallFrame) => !cf.url && cf.functionName.startsWith('(');
  // V8 names native frames oddly (node-sqlite3's statement calls show as 'Backup'): name them by their caller.
  const keyOf = (n: ProfileNode) => {
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (isPseudo(cf)) return name;
    if (!cf.url) return `${name} [native, called from ${shortUrl(callerUrl(n)) || '?'}]`;
    // tsx compiles each source file to one line, so a line number there says nothing.
    return `${name} ${shortUrl(cf.url)}${cf.lineNumber > 0 ? `:${cf.lineNumber + 1}` : ''}`;
  };
  const areaOfNode = (n: ProfileNode) => {
    const cf = n.callFrame;
    if (cf.url || isPseudo(cf)) return areaOf(cf);
    const caller = callerUrl(n);
    return caller ? `${areaOf({ functionName: '', url: caller, lineNumber: 0 })} (native)` : '(native)';
  };
  const hits = new Map<number, number>();
  if (p.samples) for (const id of p.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  else for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  const all = [...hits.values()].reduce((a, b) => a + b, 0) || 1;
  const idleIds = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const idle = [...idleIds].reduce((a, id) => a + (hits.get(id) ?? 0), 0);
  // Shares are of the busy samples (the process doing anything at all), so they add up to 100 % of its CPU time.
  const total = all - idle || 1;

  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (h === 0 || idleIds.has(n.id)) continue;
    self.set(keyOf(n), (self.get(keyOf(n)) ?? 0) + h);
    areas.set(areaOfNode(n), (areas.get(areaOfNode(n)) ?? 0) + h);
  }
  // Inclusive: subtree sums, credited to a function only at its outermost frame on each path (recursion once).
  const subtree = new Map<number, number>();
  const sumOf = (id: number): number => {
    const n = byId.get(id)!;
    let s = hits.get(id) ?? 0;
    for (const c of n.children ?? []) s += sumOf(c);
    subtree.set(id, s);
    return s;
  };
  const root = p.nodes[0]!;
  sumOf(root.id);
  const inclusive = new Map<string, number>();
  const onStack = new Map<string, number>();
  const walk = (id: number) => {
    const n = byId.get(id)!;
    const k = keyOf(n);
    const depth = onStack.get(k) ?? 0;
    if (depth === 0) inclusive.set(k, (inclusive.get(k) ?? 0) + (subtree.get(id) ?? 0));
    onStack.set(k, depth + 1);
    for (const c of n.children ?? []) walk(c);
    onStack.set(k, depth);
  };
  walk(root.id);
  inclusive.delete(keyOf(root));
  for (const id of idleIds) inclusive.delete(keyOf(byId.get(id)!));
  const ranked = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => ({ k, pct: (100 * v) / total }));
  return {
    samples: all,
    busyShare: total / all,
    wallMs: (p.endTime - p.startTime) / 1000,
    topSelf: ranked(self).map(({ k, pct }) => ({ fn: k, pct })),
    topInclusive: ranked(inclusive).map(({ k, pct }) => ({ fn: k, pct })),
    areas: ranked(areas).map(({ k, pct }) => ({ area: k, pct })),
  };
}

/** saveProfile writes the profile as JSON (a .cpuprofile DevTools can open). */
export function saveProfile(file: string, p: CpuProfile): void {
  fs.writeFileSync(file, JSON.stringify(p));
}

/** renderProfile formats a summary for the console. */
export function renderProfile(s: ProfileSummary): string {
  const lines = [
    `${s.samples} samples over ${fmt(s.wallMs / 1000, 1)} s; the process was busy in ${fmt(100 * s.busyShare, 0)}% of them. Shares below are of the busy samples.`,
  ];
  lines.push('', 'self time by area:', table([['area', '%'], ...s.areas.map((a) => [a.area, fmt(a.pct, 1)])]));
  lines.push('', 'top functions, self time:', table([['%', 'function'], ...s.topSelf.map((f) => [fmt(f.pct, 1), f.fn])]));
  lines.push('', 'top functions, inclusive time:', table([['%', 'function'], ...s.topInclusive.map((f) => [fmt(f.pct, 1), f.fn])]));
  return lines.join('\n');
}

/** LoopDelay is the event-loop delay of the inspected process over a window, in milliseconds. */
export interface LoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * evaluate runs one expression in the inspected process (with the DevTools command-line API, which offers
 * `require`) and returns its value.
 */
function evaluate(inspectorUrl: string, expression: string): Promise<unknown> {
  return withInspector(inspectorUrl, async (ins) => {
    const r = (await ins.send('Runtime.evaluate', { expression, includeCommandLineAPI: true, returnByValue: true })) as { result: { value?: unknown }; exceptionDetails?: { text: string } };
    if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}`);
    return r.result.value;
  });
}

/**
 * resetLoopDelay starts (or restarts) a perf_hooks.monitorEventLoopDelay histogram inside the inspected process:
 * how late its event loop runs timers, i.e. how long a ready callback (an ext_proc message, a NOTIFY) can wait.
 * Nothing of presencelb's code is changed; the histogram lives in a global of the benchmark's own.
 */
export async function resetLoopDelay(inspectorUrl: string): Promise<void> {
  await evaluate(
    inspectorUrl,
    "(globalThis.__benchLoopDelay ??= (() => { const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }); h.enable(); return h; })()).reset(); true",
  );
}

/** readLoopDelay returns the histogram's percentiles since the last reset. */
export async function readLoopDelay(inspectorUrl: string): Promise<LoopDelay> {
  const v = (await evaluate(
    inspectorUrl,
    '(() => { const h = globalThis.__benchLoopDelay; return JSON.stringify({ p50: h.percentile(50), p99: h.percentile(99), max: h.max }); })()',
  )) as string;
  const ns = JSON.parse(v) as LoopDelay;
  return { p50: ns.p50 / 1e6, p99: ns.p99 / 1e6, max: ns.max / 1e6 };
}

/** HeapProfileNode is one node of V8's sampling heap profile (HeapProfiler.stopSampling's result). */
interface HeapProfileNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapProfileNode[];
}

/** HeapProfile is a .heapprofile (DevTools opens it). */
export interface HeapProfile {
  readonly head: HeapProfileNode;
}

/**
 * heapProfileWindow samples the allocations of the process behind inspectorUrl while fn runs, one sample per
 * intervalBytes allocated on average. The profile keeps what was still alive at the end and what survived young
 * collections before a full collection freed it: the objects that fill the old space and cost full collections,
 * not those that die young.
 */
export function heapProfileWindow<T>(inspectorUrl: string, fn: () => Promise<T>, intervalBytes = 16384): Promise<{ result: T; profile: HeapProfile }> {
  return withInspector(inspectorUrl, async (ins) => {
    await ins.send('HeapProfiler.enable');
    await ins.send('HeapProfiler.startSampling', { samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true });
    const result = await fn();
    const { profile } = (await ins.send('HeapProfiler.stopSampling')) as { profile: HeapProfile };
    await ins.send('HeapProfiler.disable');
    return { result, profile };
  });
}

/** renderHeapProfile lists the allocation sites with the most sampled bytes (self), with their callers' chain. */
export function renderHeapProfile(p: HeapProfile, top = 20): string {
  const sites = new Map<string, number>();
  let total = 0;
  const frame = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}`;
  const walk = (n: HeapProfileNode, chain: readonly string[]) => {
    const here = [...chain, frame(n.callFrame)].slice(-3);
    if (n.selfSize > 0) {
      const k = [...here].reverse().join(' < ');
      sites.set(k, (sites.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, here);
  };
  walk(p.head, []);
  const rows = [...sites].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [fmt(v / 1048576, 1), fmt((100 * v) / (total || 1), 1), k]);
  return [`${fmt(total / 1048576, 1)} MiB sampled (alive at the end, or promoted and freed by a full collection)`, table([['MiB', '%', 'allocation site < caller < caller'], ...rows])].join('\n');
}

/**
 * renderThreads prints a profile window's main thread and its busy worker threads (the data path's is named
 * '[worker N] presencelb-dataplane'; tsx's idle loader threads are left out), saving each in dir as
 * base[-thread].cpuprofile.
 */
export function renderThreads(w: { profile: CpuProfile; workers: Map<string, CpuProfile> }, dir: string, base: string): string {
  const file = path.join(dir, `${base}.cpuprofile`);
  saveProfile(file, w.profile);
  let text = `main thread (lifecycle, presence, store):\n${renderProfile(summarizeProfile(w.profile))}\n(profile saved as ${file})`;
  for (const [name, p] of w.workers) {
    const summary = summarizeProfile(p);
    if (summary.busyShare < 0.01) continue;
    const wfile = path.join(dir, `${base}-${name.replace(/[^a-z0-9-]+/gi, '-').replace(/^-|-$/g, '')}.cpuprofile`);
    saveProfile(wfile, p);
    text += `\n\nworker thread ${name}${name.endsWith('presencelb-dataplane') ? ' (the data path: ext_proc, access log)' : ''}:\n${renderProfile(summary)}\n(profile saved as ${wfile})`;
  }
  return text;
}
