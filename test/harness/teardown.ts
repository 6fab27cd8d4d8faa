/**
 * Teardown stops, in reverse order, what a start made of several parts has started so far. A start that fails part
 * way (a port taken, a process that exits) must not leave Kamailio, Envoy or a server running: the test worker
 * would never exit, and ava's timeout would then fail the whole run instead of the one file.
 */
export class Teardown {
  readonly #steps: Array<() => unknown> = [];

  /** add registers how to stop value and returns it: `const k = td.add(await startKamailio(), (k) => k.stop())`. */
  add<T>(value: T, stop: (v: T) => unknown): T {
    this.#steps.push(() => stop(value));
    return value;
  }

  /** run performs every registered step, last first; a step that fails does not stop the others. */
  async run(): Promise<void> {
    while (this.#steps.length) {
      try {
        await this.#steps.pop()!();
      } catch {
        /* best effort: the start's own error is what the caller reports */
      }
    }
  }

  /** guard runs start with this teardown; if start throws, it stops what start had started and rethrows. */
  static async guard<T>(start: (td: Teardown) => Promise<T>): Promise<T> {
    const td = new Teardown();
    try {
      return await start(td);
    } catch (e) {
      await td.run();
      throw e;
    }
  }
}
