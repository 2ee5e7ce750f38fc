/**
 * Retrying with exponential backoff.
 *
 * @module
 */

import { HubError } from "./hub_error.ts";

/** How to retry failed requests. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  attempts?: number;
  /** Delay before the first retry, in ms; each later one doubles it. Default 1000. */
  baseDelayMs?: number;
  /** The longest delay, in ms. Default 30000. */
  maxDelayMs?: number;
  /** Waits `ms` milliseconds; tests pass an instant one. Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `task` until it succeeds, an error is not retryable (only {@linkcode HubError}s marked
 * retryable are), or the attempts are used up; then rethrows the last error. Delays grow as
 * `baseDelayMs · 2^retry`, capped at `maxDelayMs`.
 *
 * @param task the work; it gets the attempt number, from 1
 * @param options the retry policy
 * @param onRetry called before each wait with the attempt that failed, the delay and the error
 *
 * @example
 * ```ts
 * const text = await withRetry(() => fetch("https://example.com").then((r) => r.text()));
 * ```
 */
export async function withRetry<T>(
  task: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void,
): Promise<T> {
  const attempts = options.attempts ?? 5;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError(`Retry attempts must be a whole number of at least 1, got ${attempts}`);
  }
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30000;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  for (let attempt = 1;; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (attempt >= attempts || !(error instanceof HubError && error.retryable)) throw error;
      const delay = Math.min(max, base * 2 ** (attempt - 1));
      onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}
