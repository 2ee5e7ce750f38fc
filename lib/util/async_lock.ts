/**
 * A first-in, first-out async lock: one holder at a time, waiters served in arrival order.
 *
 * @module
 */

/**
 * Serialises access to a shared resource (a model's KV cache, a GPU queue).
 *
 * @example
 * ```ts
 * const lock = new AsyncLock();
 * await Promise.all([1, 2].map((i) => lock.run(async () => console.log(i)))); // 1, then 2
 * ```
 */
export class AsyncLock {
  #tail: Promise<void> = Promise.resolve();

  /** Runs `body` once every earlier holder has finished. */
  run<T>(body: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(body);
    this.#tail = result.then(() => {}, () => {});
    return result;
  }

  /** Waits for the lock and returns a function that releases it (for generators). */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#tail;
    this.#tail = previous.then(() => held);
    await previous;
    return release;
  }
}
