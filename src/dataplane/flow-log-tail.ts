/**
 * FlowLogTail follows one flow log file Envoy writes (flow-log.ts), as `tail -F` does, and hands each complete line
 * to onLine. It runs in the data path's thread and reads with synchronous calls every pollMs: the file is in the
 * page cache, and a read of a few hundred KiB costs less than a trip through libuv's thread pool.
 *
 * - Start: a file that exists at start() is read from its end, even if it can only be opened later (what Envoy
 *   wrote before presencelb started is not replayed, as the gRPC access log drops entries while presencelb is down);
 *   a file that appears after start() is read from its start. A path still missing MISSING_WARN_MS after start()
 *   is reported (FLOW_LOG_UNREADABLE): no flow comes from it.
 * - Backlog: one poll reads at most MAX_READ_BYTES, and polls again at once while more is waiting, so a backlog
 *   (after a stall) never holds the data path's thread for long: ext_proc answers and the lifecycle's syncs
 *   (DataplaneThread.settle) go on between the slices.
 * - Rotation, by anyone (logrotate with Envoy's POST /reopen_logs, or presencelb itself, below): when the path
 *   names another file, the old one is read to its end first (Envoy closed it before it created the new one), then
 *   the new one from its start. copytruncate is not supported: a file seen shorter than what was read is read again
 *   from its start, but one refilled past that point between two polls is not noticed. Rotate by renaming.
 * - Rotation by presencelb: with the file's envoyAdmin set, once rotateBytes have been read presencelb renames the
 *   file to `<path>.1`, asks Envoy to reopen its logs (POST <envoyAdmin>/reopen_logs, again every REOPEN_RETRY_MS
 *   until Envoy writes the new file), and deletes `<path>.1` once the new file is there and the old one is read.
 *   The disk then holds at most about rotateBytes twice. A presencelb that starts while a rotation is under way
 *   (the path missing, `<path>.1` there) follows `<path>.1` and asks Envoy to reopen.
 * - Envoy's flush interval: with envoyAdmin set, the tail asks that Envoy once (GET /server_info, again every
 *   REOPEN_RETRY_MS until it answers) how often it writes its log files, and warns (FLOW_LOG_LATE) when that is
 *   less often than every FLOW_LOG_FLUSH_MS: Envoy's default, 10 s, would report flows far later than a decision
 *   waits (extProc.accessLogLagMs), so the identifying step could miss a flow open at the NOTIFY.
 * - A line longer than MAX_LINE_BYTES is dropped (FLOW_LOG_MALFORMED, logged). A file that cannot be opened or read
 *   is logged once (FLOW_LOG_UNREADABLE) and opened again at each poll until it can be read: the same file from
 *   where reading stopped, another from its start. The data path serves on meanwhile.
 */
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../core/ports.ts';
import { FLOW_LOG_FLUSH_MS, MAX_LINE_BYTES } from './flow-log.ts';

/** FlowLogFile is one Envoy's flow log: its path here, and that Envoy's admin address if presencelb rotates it. */
export interface FlowLogFile {
  readonly path: string;
  /** envoyAdmin: http://host:port of that Envoy's admin interface; unset: presencelb never rotates the file. */
  readonly envoyAdmin?: string;
}

/** FlowLogSettings is config extProc.flowLog as the data path receives it. */
export interface FlowLogSettings {
  readonly files: readonly FlowLogFile[];
  readonly pollMs: number;
  readonly rotateBytes: number;
}

export interface FlowLogTailOptions {
  readonly file: FlowLogFile;
  readonly pollMs: number;
  /** rotateBytes: rotate (with envoyAdmin) once this much has been read from the current file; 0: never. */
  readonly rotateBytes: number;
  readonly onLine: (line: string) => void;
  readonly log: Logger;
  /** reopen asks Envoy to reopen its log files (POST <admin>/reopen_logs by default). */
  readonly reopen?: (admin: string) => Promise<void>;
  /** serverInfo reads Envoy's GET <admin>/server_info (parsed) by default. */
  readonly serverInfo?: (admin: string) => Promise<unknown>;
  /** now is the clock for retries of a rotation and for the missing-file warning (Date.now by default). */
  readonly now?: () => number;
}

/** REOPEN_RETRY_MS: a rotation whose new file has not appeared asks Envoy again after this long. */
export const REOPEN_RETRY_MS = 5000;
/** MISSING_WARN_MS: a path still missing this long after start() is reported. */
export const MISSING_WARN_MS = 10000;
/** MAX_READ_BYTES: the most one poll reads (and parses) before it lets the thread do other work. */
export const MAX_READ_BYTES = 1 << 20;

type OpenAt = 'end' | 'start' | 'resume';

export class FlowLogTail {
  #fd: number | null = null;
  /** #fdPath: the path #fd was opened by (the file's path, or `<path>.1` when a start found a rotation under way). */
  #fdPath = '';
  #ino = 0;
  #offset = 0;
  #rest = '';
  /** skipping: the rest of an over-long line is being dropped, up to its newline. */
  #skipping = false;
  #decoder = new StringDecoder('utf8');
  #timer: NodeJS.Timeout | null = null;
  /** rotatedAt: when presencelb renamed the file and asked Envoy to reopen it (null: no rotation under way). */
  #rotatedAt: number | null = null;
  #unreadable = false;
  #infoTimer: NodeJS.Timeout | null = null;
  #started = false;
  #stopped = false;
  /** #firstAt: how the first successful open reads: 'end' for a file that existed at start(), else 'start'. */
  #firstAt: OpenAt = 'start';
  #startedAt = 0;
  #missingWarned = false;
  readonly #buf = Buffer.allocUnsafe(MAX_READ_BYTES);
  readonly #now: () => number;
  /** lines is how many complete lines have been handed to onLine. */
  lines = 0;

  constructor(private readonly o: FlowLogTailOptions) {
    this.#now = o.now ?? Date.now;
  }

  get #path(): string {
    return this.o.file.path;
  }

  /** start opens the file at its end (if it exists) and polls every pollMs. */
  start(): void {
    this.#started = true;
    this.#startedAt = this.#now();
    const present = fs.existsSync(this.#path);
    const rotating = this.o.file.envoyAdmin !== undefined && !present && fs.existsSync(`${this.#path}.1`);
    this.#firstAt = rotating || present ? 'end' : 'start';
    try {
      if (rotating) {
        // A rotation was under way when presencelb stopped: Envoy may still write to <path>.1.
        this.#openFile(`${this.#path}.1`, 'end');
        this.#rotatedAt = this.#now() - REOPEN_RETRY_MS;
        this.o.log.info({ path: this.#path }, 'flow log: a rotation was under way; following <path>.1 until Envoy reopens the path');
      } else this.#openFile(this.#path, 'end');
    } catch (e) {
      // Not fatal: the data path serves on, and each poll tries the file again.
      this.#failed(e);
    }
    this.#checkFlushInterval();
    this.#schedule(this.o.pollMs);
  }

  /** stop reads what is left and closes the file (nothing if start() never ran). */
  stop(): void {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#infoTimer) clearTimeout(this.#infoTimer);
    this.#infoTimer = null;
    while (this.#pollOnce(false) === 'more');
    this.#close();
  }

  /** poll reads what was written since the last poll (up to MAX_READ_BYTES), and follows a rotation. */
  poll(): void {
    this.#pollOnce(true);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      const more = this.#pollOnce(true) === 'more';
      this.#schedule(more ? 0 : this.o.pollMs);
    }, ms);
    this.#timer.unref();
  }

  /** #pollOnce is one poll: 'more' when it stopped at MAX_READ_BYTES with more to read. */
  #pollOnce(rotate: boolean): 'more' | 'done' {
    try {
      if (this.#fd === null && !this.#openFile(this.#path, this.#ino === 0 ? this.#firstAt : 'resume')) {
        this.#missing();
        return 'done';
      }
      if (this.#drain() === 'more') return 'more';
      const now = this.#stat(this.#path);
      if (now && now.ino !== this.#ino) {
        while (this.#drain() === 'more');
        this.#switchTo();
      } else if (now && now.size < this.#offset && this.#fdPath === this.#path) {
        this.o.log.warn({ code: 'FLOW_LOG_UNREADABLE', path: this.#path, size: now.size, offset: this.#offset }, 'flow log was cut short: reading it again from its start');
        this.#offset = 0;
        this.#resetReader();
        this.#drain();
      }
      if (rotate) this.#rotate();
      this.#unreadable = false;
    } catch (e) {
      this.#failed(e);
    }
    return 'done';
  }

  /** #failed logs a failure once and closes the file: the next poll opens the path again (see #openFile). */
  #failed(e: unknown): void {
    if (!this.#unreadable) this.o.log.error({ code: 'FLOW_LOG_UNREADABLE', path: this.#path, err: String(e) }, 'flow log cannot be read: trying again');
    this.#unreadable = true;
    try {
      this.#close();
    } catch {
      // already forgotten: nothing more to do with that descriptor
    }
  }

  /** #missing reports, once, a path that has not appeared MISSING_WARN_MS after start(). */
  #missing(): void {
    if (this.#missingWarned || this.#now() - this.#startedAt < MISSING_WARN_MS) return;
    this.#missingWarned = true;
    this.o.log.warn({ code: 'FLOW_LOG_UNREADABLE', path: this.#path, waitedMs: MISSING_WARN_MS }, 'flow log file does not exist: no flow comes from it until Envoy writes it (check its path in the bootstrap and in extProc.flowLog)');
  }

  /**
   * #openFile opens path: at its end ('end'), at its start ('start': a new file), or where reading stopped if it is
   * the same file as before ('resume': after a read failed). False when it does not exist.
   */
  #openFile(path: string, at: OpenAt): boolean {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const resume = at === 'resume' && st.ino === this.#ino && st.size >= this.#offset;
    this.#fd = fd;
    this.#fdPath = path;
    this.#offset = at === 'end' ? st.size : resume ? this.#offset : 0;
    if (!resume) this.#resetReader();
    this.#ino = st.ino;
    this.#missingWarned = false;
    return true;
  }

  #resetReader(): void {
    this.#rest = '';
    this.#skipping = false;
    this.#decoder = new StringDecoder('utf8');
  }

  #close(): void {
    const fd = this.#fd;
    this.#fd = null;
    if (fd !== null) fs.closeSync(fd);
  }

  #stat(path: string): fs.Stats | null {
    try {
      return fs.statSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** #drain reads from the offset, at most MAX_READ_BYTES, handing on each complete line; 'more' if it stopped short. */
  #drain(): 'more' | 'done' {
    let read = 0;
    while (read < MAX_READ_BYTES) {
      const n = fs.readSync(this.#fd!, this.#buf, 0, MAX_READ_BYTES - read, this.#offset);
      if (n === 0) return 'done';
      this.#offset += n;
      read += n;
      this.#take(this.#decoder.write(this.#buf.subarray(0, n)));
    }
    return 'more';
  }

  #take(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      const line = this.#rest + text.slice(from, nl);
      this.#rest = '';
      from = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      if (line.length === 0) continue;
      this.lines++;
      this.o.onLine(line);
    }
    if (this.#skipping) return;
    this.#rest += text.slice(from);
    if (this.#rest.length > MAX_LINE_BYTES) {
      this.o.log.warn({ code: 'FLOW_LOG_MALFORMED', path: this.#path, bytes: this.#rest.length }, `flow log line longer than ${MAX_LINE_BYTES} bytes: dropped`);
      this.#rest = '';
      this.#skipping = true;
    }
  }

  /** #switchTo leaves the file read to its end for the one the path now names. */
  #switchTo(): void {
    if (this.#rest.length > 0) this.o.log.warn({ code: 'FLOW_LOG_MALFORMED', path: this.#path, bytes: this.#rest.length }, 'flow log rotated in the middle of a line: its start is dropped');
    this.#close();
    if (this.#rotatedAt !== null) {
      this.#rotatedAt = null;
      fs.rmSync(`${this.#path}.1`, { force: true });
    }
    if (this.#openFile(this.#path, 'start')) while (this.#drain() === 'more');
  }

  /**
   * #checkFlushInterval asks the file's Envoy how often it writes its log files (see the module comment); an Envoy
   * not answering yet (still starting) is asked again later.
   */
  #checkFlushInterval(): void {
    const admin = this.o.file.envoyAdmin;
    if (!admin) return;
    (this.o.serverInfo ?? serverInfo)(admin).then(
      (info) => {
        const raw = (info as { command_line_options?: { file_flush_interval?: unknown } } | null)?.command_line_options?.file_flush_interval;
        const ms = typeof raw === 'string' && /^\d+(\.\d+)?s$/.test(raw) ? Math.round(Number.parseFloat(raw) * 1000) : null;
        if (ms === null) this.o.log.warn({ code: 'FLOW_LOG_LATE', admin, fileFlushInterval: raw ?? null }, 'cannot tell how often Envoy writes its flow log (no file_flush_interval in /server_info)');
        else if (ms > FLOW_LOG_FLUSH_MS)
          this.o.log.warn({ code: 'FLOW_LOG_LATE', admin, fileFlushIntervalMs: ms, wantMs: FLOW_LOG_FLUSH_MS }, `Envoy writes its flow log every ${ms} ms: run it with --file-flush-interval-msec ${FLOW_LOG_FLUSH_MS}, or decisions may miss flows open at a NOTIFY`);
        else this.o.log.info({ admin, path: this.#path, fileFlushIntervalMs: ms }, 'flow log: Envoy writes it often enough');
      },
      () => {
        if (this.#stopped) return;
        this.#infoTimer = setTimeout(() => {
          this.#infoTimer = null;
          this.#checkFlushInterval();
        }, REOPEN_RETRY_MS);
        this.#infoTimer.unref();
      },
    );
  }

  /** #rotate starts a rotation once rotateBytes were read, or asks Envoy again when one is taking long. */
  #rotate(): void {
    const admin = this.o.file.envoyAdmin;
    if (!admin || this.o.rotateBytes <= 0) return;
    const now = this.#now();
    if (this.#rotatedAt === null) {
      if (this.#offset < this.o.rotateBytes || this.#fdPath !== this.#path) return;
      fs.renameSync(this.#path, `${this.#path}.1`);
      this.#fdPath = `${this.#path}.1`;
      this.o.log.info({ path: this.#path, bytes: this.#offset }, 'flow log rotated: asking Envoy to reopen it');
    } else if (now - this.#rotatedAt < REOPEN_RETRY_MS) return;
    this.#rotatedAt = now;
    (this.o.reopen ?? reopenLogs)(admin).catch((e: unknown) =>
      this.o.log.warn({ code: 'FLOW_LOG_UNREADABLE', admin, err: String(e) }, `Envoy did not reopen its logs; asking again in ${REOPEN_RETRY_MS} ms`),
    );
  }
}

async function serverInfo(admin: string): Promise<unknown> {
  const res = await fetch(new URL('/server_info', admin), { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`GET /server_info: HTTP ${res.status}`);
  return res.json();
}

/** reopenLogs asks the Envoy whose admin interface is at admin to reopen its access log files. */
async function reopenLogs(admin: string): Promise<void> {
  const res = await fetch(new URL('/reopen_logs', admin), { method: 'POST', signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`POST /reopen_logs: HTTP ${res.status}`);
}
