/**
 * KeyedSerial runs async operations one after another per key and concurrently across keys, so that for one
 * user an unregister never overtakes the register before it. A failed operation does not block the next one.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** run starts fn once every operation queued earlier under key has settled, and returns fn's result. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** idle resolves once everything queued so far under every key has settled. */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
