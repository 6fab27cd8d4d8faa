/**
 * PacedInbox hands the messages a connection receives to the SIP stack in slices, each slice its own turn of the
 * event loop, instead of all at once in the socket's data callback.
 *
 * Why: libuv reads up to 32 chunks from a busy socket in one turn, and the data callbacks run the SIP stack for
 * every message in them. Under a burst of presence changes that was seconds of SIP work in one turn, during which
 * nothing else ran: a store batch of a dozen writes waited 7.7 s between its statements (STORE_SLOW), so purges
 * lagged the decisions by up to 20 s. Here a slice runs for at most sliceMs, then the inbox yields
 * (setImmediate), so database completions and timers get their turn between slices.
 *
 * Order is kept. When more than highWater messages wait, the connection is paused (no more reads: the presence
 * server's own queue and TCP hold the rest) and resumed once the inbox is empty. flush() delivers whatever is still
 * queued at once, for when the connection closes: nothing received is dropped.
 */

/** Flow is the connection's read switch. */
export interface Flow {
  pause(): void;
  resume(): void;
}

/** PacedInboxOptions tune the slices. */
export interface PacedInboxOptions {
  /** sliceMs is the longest one slice delivers messages for (at least one message per slice). */
  readonly sliceMs: number;
  /** highWater is the number of waiting messages at which the connection is paused. */
  readonly highWater: number;
}

export const PACED_INBOX_DEFAULTS: PacedInboxOptions = { sliceMs: 10, highWater: 2000 };

/** PacedInbox queues received messages and delivers them in slices; see the module comment. */
export class PacedInbox {
  private queue: string[] = [];
  private head = 0;
  private scheduled = false;
  private paused = false;

  constructor(
    private readonly deliver: (message: string) => void,
    private readonly flow: Flow,
    private readonly o: PacedInboxOptions = PACED_INBOX_DEFAULTS,
  ) {}

  /** pending is the number of messages received and not yet delivered. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** push queues one received message. */
  push(message: string): void {
    this.queue.push(message);
    if (!this.paused && this.pending >= this.o.highWater) {
      this.paused = true;
      this.flow.pause();
    }
    this.schedule();
  }

  /** flush delivers every queued message now (the connection is closing). */
  flush(): void {
    while (this.head < this.queue.length) this.deliver(this.queue[this.head++]!);
    this.compact();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const until = performance.now() + this.o.sliceMs;
    try {
      while (this.head < this.queue.length) {
        this.deliver(this.queue[this.head++]!);
        if (performance.now() >= until) break;
      }
    } finally {
      this.compact();
      if (this.pending > 0) this.schedule();
      else if (this.paused) {
        this.paused = false;
        this.flow.resume();
      }
    }
  }

  /** compact drops delivered messages from the front of the queue once they are many. */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
