/** The process logger: pino, JSON lines on stdout, level from config. Created once in the CLI and injected. */
import { pino } from 'pino';
import type { Logger } from './core/ports.ts';

/** createLogger returns a pino logger (which satisfies the core's Logger port). */
export function createLogger(level: string, name = 'presencelb'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
