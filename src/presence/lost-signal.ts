/**
 * LostSignal says that a connection to the presence server dropped: every SIP transaction in flight on it listens,
 * so that it fails at once instead of waiting for its timeout. It is an AbortSignal reduced to what that needs,
 * with O(1) listening and unlistening: Node's EventTarget walks its whole listener list on every add and remove,
 * which with thousands of transactions in flight (a burst of teardowns) took most of presencelb's CPU and starved
 * everything else (bench/presence.ts, profiled).
 */
export class LostSignal {
  readonly #listeners = new Set<() => void>();
  #aborted = false;
  #reason: unknown = undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** onAbort calls fn once when the signal aborts (at once if it has); the returned function stops listening. */
  onAbort(fn: () => void): () => void {
    if (this.#aborted) {
      fn();
      return () => {};
    }
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** abort aborts the signal with reason and calls every listener once; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const fn of listeners) fn();
  }

  /** listeners is how many are listening (for tests). */
  get listeners(): number {
    return this.#listeners.size;
  }
}
