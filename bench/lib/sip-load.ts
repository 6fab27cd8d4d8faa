/** The parent side of bench/clients/sip-load.ts: starts it, sends it commands, returns its results. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLIENT = fileURLToPath(new URL('../clients/sip-load.ts', import.meta.url));

/** PublishResult: per user (in the order given) when its PUBLISH left and was answered, epoch ms. */
export interface PublishResult {
  readonly sentAt: number[];
  readonly answeredAt: number[];
  readonly statuses: Record<string, number>;
  readonly maxLagMs: number;
  readonly seconds: number;
}

/** SipLoad is a running device simulator. */
export interface SipLoad {
  readonly pid: number;
  register(users: readonly string[], concurrency?: number): Promise<{ statuses: Record<string, number>; seconds: number }>;
  publish(users: readonly string[], rate: number, basic: 'open' | 'closed'): Promise<PublishResult>;
  /** messages returns every MESSAGE received so far: [user, epoch ms]. */
  messages(): Promise<{ messages: Array<[string, number]>; otherRequests: number; reconnects: number; cpuSec: number }>;
  stop(): Promise<void>;
}

/** startSipLoad starts the simulator connected to wsUrl and resolves once its WebSocket is open. */
export async function startSipLoad(wsUrl: string, domain: string): Promise<SipLoad> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CLIENT, wsUrl, domain], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (r: any) => void>();
  let nextId = 1;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`sip-load exited with ${code}`)));
    child.on('message', (m: { ready?: boolean; id?: number; result?: unknown }) => {
      if (m.ready) resolve();
      else if (m.id !== undefined) {
        waiting.get(m.id)?.(m.result);
        waiting.delete(m.id);
      }
    });
  });
  const call = (msg: Record<string, unknown>) =>
    new Promise<any>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      child.send({ ...msg, id });
    });
  return {
    pid: child.pid!,
    register: (users, concurrency = 100) => call({ cmd: 'register', users, concurrency }),
    publish: (users, rate, basic) => call({ cmd: 'publish', users, rate, basic }),
    messages: () => call({ cmd: 'messages' }),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.disconnect();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    },
  };
}
