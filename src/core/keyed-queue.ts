/**
 * KeyedQueue runs tasks one at a time per key, in the order they were enqueued, and tasks of different keys
 * concurrently. It is how the lifecycle guarantees that one user's events are handled in order. A failing task
 * does not stop the tasks after it. Idle keys hold no memory.
 */
export class KeyedQueue<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  /** run enqueues task under key; the returned promise settles with the task's own outcome. */
  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(task, task);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** busy says whether key has a task queued or running (its next task would wait). */
  busy(key: K): boolean {
    return this.tails.has(key);
  }

  /** idle resolves when every task enqueued so far, for every key, has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** size is the number of keys with queued or running tasks. */
  get size(): number {
    return this.tails.size;
  }
}
