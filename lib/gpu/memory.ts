/**
 * Accounting of GPU bytes allocated by the engine, so memory can be reported and compared
 * with the planner's estimates.
 *
 * @module
 */

/** A snapshot of the allocation counters. */
export interface MemoryReport {
  /** Bytes currently allocated. */
  current: number;
  /** Highest `current` since creation or the last {@linkcode MemoryTracker.resetPeak}. */
  peak: number;
  /** Current bytes by category (weights, activations, lora, optimizer, kv-cache, workspace...). */
  byCategory: Record<string, number>;
}

/**
 * Counts bytes allocated and freed on a device, by category.
 *
 * @example
 * ```ts
 * const gpu = await acquireGpu();
 * const model = await loadModel(dir, { gpu });
 * gpu.memory.report(); // { current, peak, byCategory: { weights, activations, "kv-cache", ... } }
 * ```
 */
export class MemoryTracker {
  #current = 0;
  #peak = 0;
  #byCategory = new Map<string, number>();

  /** Records an allocation of `bytes` in `category`. */
  allocate(category: string, bytes: number): void {
    this.#current += bytes;
    this.#peak = Math.max(this.#peak, this.#current);
    this.#byCategory.set(category, (this.#byCategory.get(category) ?? 0) + bytes);
  }

  /** Records that `bytes` of `category` were freed. */
  free(category: string, bytes: number): void {
    this.#current -= bytes;
    this.#byCategory.set(category, (this.#byCategory.get(category) ?? 0) - bytes);
  }

  /** Starts a new peak measurement from the current level. */
  resetPeak(): void {
    this.#peak = this.#current;
  }

  /** The counters now. */
  report(): MemoryReport {
    return {
      current: this.#current,
      peak: this.#peak,
      byCategory: Object.fromEntries(this.#byCategory),
    };
  }
}
