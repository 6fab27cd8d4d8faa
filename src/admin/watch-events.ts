/**
 * WatchEvents: each call streams the lifecycle's events from the moment it starts, optionally for one user, until
 * the client cancels or the server stops (then the stream ends with OK). A client that reads too slowly is not
 * allowed to grow presencelb's memory: once MAX_BUFFERED events wait to be sent, its stream ends with
 * RESOURCE_EXHAUSTED.
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { UserId } from '../core/user-id.ts';
import type { Logger } from '../core/ports.ts';
import type { AdminBackend } from './admin-backend.ts';
import { parseUuid } from './requests.ts';
import { toServiceError } from './status.ts';
import { eventToWire, type WireEvent } from './wire.ts';

/** MAX_BUFFERED is how many events may wait in one stream's send buffer. */
export const MAX_BUFFERED = 1024;

type WatchCall = ServerWritableStream<{ uuid?: string }, WireEvent>;

/** EventWatchers serves WatchEvents calls and ends them all on close(). */
export class EventWatchers {
  /** open maps each open stream to the function that stops feeding it. */
  private readonly open = new Map<WatchCall, () => void>();

  constructor(private readonly backend: AdminBackend, private readonly log: Logger) {}

  /** size is the number of open WatchEvents streams. */
  get size(): number {
    return this.open.size;
  }

  /** serve is the grpc-js handler of WatchEvents. */
  serve(call: WatchCall): void {
    const raw = call.request?.uuid ?? '';
    let only: UserId | null = null;
    if (raw !== '') {
      const u = parseUuid(raw);
      if (!u.ok) {
        call.emit('error', toServiceError(u.errors));
        return;
      }
      only = u.value;
    }
    let unobserve = () => {};
    const finish = () => {
      unobserve();
      this.open.delete(call);
    };
    this.open.set(call, finish);
    this.log.debug({ peer: call.getPeer(), user: only, streams: this.open.size }, 'WatchEvents stream opened');
    unobserve = this.backend.lifecycle.observe((e) => {
      if (only !== null && e.user !== only) return;
      if (call.writableLength >= MAX_BUFFERED) {
        this.log.warn({ peer: call.getPeer(), buffered: call.writableLength }, 'WatchEvents client too slow: stream ended');
        finish();
        call.emit('error', { code: status.RESOURCE_EXHAUSTED, details: `more than ${MAX_BUFFERED} events waiting to be sent: the client reads too slowly` });
        return;
      }
      call.write(eventToWire(e));
    });
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  }

  /** close ends every open stream with OK (the server is stopping). */
  close(): void {
    for (const [call, finish] of [...this.open]) {
      finish();
      call.end();
    }
  }
}
