/** The process logger: pino, JSON lines on stdout, level from config. Created once in the CLI and injected. */
import { pino } from 'pino';
import type { Logger } from './core/ports.ts';

/**
 * MAX_WRITE bounds the chunk of lines the destination hands to one write(2). pino's destination (sonic-boom) appends
 * each line to the last pending chunk and measures that chunk's byte length on every line, so a line costs time in
 * proportion to the chunk: with the default 16 KB, under a presence load (4,000 lines/s while a write is pending)
 * the measuring alone took 3.6% of presencelb's CPU. 2 KB chunks cost an eighth of that, and still one write(2)
 * per eight lines or so.
 */
const MAX_WRITE = 2048;

/** createLogger returns a pino logger (which satisfies the core's Logger port). */
export function createLogger(level: string, name = 'presencelb'): Logger {
  return pino(
    { name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: process.stdout.fd || 1, sync: false, maxWrite: MAX_WRITE }),
  );
}
