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
 * Responses go first: a message the `urgent` test picks (SIP responses, see sipResponse) is delivered before the
 * requests waiting, in the order responses arrived; requests keep their order too. Under a burst of NOTIFYs the
 * answers to presencelb's own requests (an unsubscribe in the teardown branch) would otherwise wait behind
 * thousands of them and time out. Nothing orders a response against a request of another transaction (RFC 6665
 * already lets a NOTIFY overtake the 200 to its SUBSCRIBE).
 *
 * When more than highWater messages wait, the connection is paused (no more reads: the presence server's own
 * queue and TCP hold the rest) and resumed once the inbox is empty. flush() delivers whatever is still queued at
 * once, for when the connection closes: nothing received is dropped.
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
  /** urgent picks the messages delivered ahead of the others. */
  readonly urgent: (message: string) => boolean;
}

/** sipResponse says whether a SIP message is a response (its start line is the SIP version). */
export const sipResponse = (message: string): boolean => message.startsWith('SIP/2.0 ');

export const PACED_INBOX_DEFAULTS: PacedInboxOptions = { sliceMs: 10, highWater: 2000, urgent: sipResponse };

/** Fifo is a queue with O(1) take, compacted as it is drained. */
class Fifo {
  private items: string[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(m: string): void {
    this.items.push(m);
  }

  take(): string {
    const m = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return m;
  }
}

/** PacedInbox queues received messages and delivers them in slices; see the module comment. */
export class PacedInbox {
  private readonly urgent = new Fifo();
  private readonly rest = new Fifo();
  private scheduled = false;
  private paused = false;

  constructor(
    private readonly deliver: (message: string) => void,
    private readonly flow: Flow,
    private readonly o: PacedInboxOptions = PACED_INBOX_DEFAULTS,
  ) {}

  /** pending is the number of messages received and not yet delivered. */
  get pending(): number {
    return this.urgent.size + this.rest.size;
  }

  /** push queues one received message. */
  push(message: string): void {
    (this.o.urgent(message) ? this.urgent : this.rest).push(message);
    if (!this.paused && this.pending >= this.o.highWater) {
      this.paused = true;
      this.flow.pause();
    }
    this.schedule();
  }

  /** flush delivers every queued message now (the connection is closing). */
  flush(): void {
    while (this.pending > 0) this.deliver(this.next());
  }

  private next(): string {
    return this.urgent.size > 0 ? this.urgent.take() : this.rest.take();
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
      while (this.pending > 0) {
        this.deliver(this.next());
        if (performance.now() >= until) break;
      }
    } finally {
      if (this.pending > 0) this.schedule();
      else if (this.paused) {
        this.paused = false;
        this.flow.resume();
      }
    }
  }
}
