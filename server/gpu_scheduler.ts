/**
 * Fair sharing of the one model (one KV cache, one GPU queue) between generation requests and
 * training. Work runs in turns handed out first come, first served: a generation request holds
 * a turn for its whole generation, a training job takes one turn per optimizer step. So a
 * request that arrives while a job runs waits for at most the step in progress, and a job
 * waits only for the requests that arrived before its next step; neither starves the other.
 *
 * @module
 */

/** Kinds of work: generation requests count against the queue bound, background work does not. */
export type TurnKind = "request" | "background";

/** Ends a turn; calling it again does nothing. */
export type Release = () => void;

/** Thrown when `maxQueue` generation requests are already waiting or running. */
export class QueueFullError extends Error {
  /** Makes the error for a queue holding `maxQueue` requests. */
  constructor(maxQueue: number) {
    super(`Server is busy: ${maxQueue} generation requests are already queued or running`);
    this.name = "QueueFullError";
  }
}

interface Waiter {
  grant: () => void;
}

/** A first-in, first-out turn queue with a bound on generation requests. */
export class GpuScheduler {
  /** The most generation requests waiting or running at once. */
  readonly maxQueue: number;
  readonly #waiters: Waiter[] = [];
  #busy = false;
  #requests = 0;

  /** Makes a scheduler; `maxQueue` bounds the generation requests waiting or running. */
  constructor(maxQueue: number) {
    if (!Number.isInteger(maxQueue) || maxQueue < 1) {
      throw new RangeError(`maxQueue ${maxQueue} must be a positive integer`);
    }
    this.maxQueue = maxQueue;
  }

  /** Generation requests waiting or running. */
  get requests(): number {
    return this.#requests;
  }

  /** Turns waiting, of both kinds. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Waits for a turn and returns the function that ends it. A `"request"` beyond `maxQueue`
   * is refused at once with {@linkcode QueueFullError}; an aborted `signal` takes the waiter
   * out of the queue and rejects with the signal's reason.
   */
  acquire(kind: TurnKind, signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (kind === "request") {
      if (this.#requests >= this.maxQueue) return Promise.reject(new QueueFullError(this.maxQueue));
      this.#requests++;
    }
    return new Promise<Release>((resolve, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (kind === "request") this.#requests--;
        this.#next();
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at < 0) return;
        this.#waiters.splice(at, 1);
        if (kind === "request") this.#requests--;
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      if (!this.#busy) this.#next();
    });
  }

  /** Runs `body` (synchronous or not) in a turn of `kind`. */
  async run<T>(kind: TurnKind, body: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(kind, signal);
    try {
      return await body();
    } finally {
      release();
    }
  }

  #next(): void {
    const waiter = this.#waiters.shift();
    this.#busy = waiter !== undefined;
    waiter?.grant();
  }
}
