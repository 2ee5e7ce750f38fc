/**
 * GPU time per dispatch, from `timestamp-query`: while a profiler is attached to a device,
 * every submit of a {@linkcode CommandRecorder} on it encodes each dispatch in a compute pass of
 * its own whose beginning and end write timestamps, resolves them into a buffer and reads them
 * back. What each dispatch was (kernel, constants, buffers) comes with its time, so a caller
 * can add the times up by any classes it likes (the benchmarks' `_kernel_classes.ts`).
 * Profiling changes what it measures a little (one pass per dispatch); it is for finding where
 * a step's time goes, not for throughput figures.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import type { Dispatch } from "./recorder.ts";

/** One profiled dispatch: what ran, and for how long on the GPU. */
export interface ProfiledDispatch {
  /** The dispatch as recorded (kernel, constants, buffers, workgroups). */
  dispatch: Dispatch;
  /** GPU seconds between the beginning and the end of its pass. */
  seconds: number;
}

/** Timestamps per query set: WebGPU's limit on a query set's size. */
const MAX_QUERIES = 4096;
/** Bytes of one resolved timestamp (a u64 of nanoseconds). */
const TIMESTAMP_BYTES = 8;

/** The timestamp writes of one submit, handed to the recorder while it encodes. */
export interface SubmitTimestamps {
  /** The timestamp writes of the pass of dispatch `index` (0-based within the submit). */
  writes(index: number): GPUComputePassTimestampWrites;
  /** Resolves the timestamps into a buffer and copies it for readback (before `finish`). */
  resolve(encoder: GPUCommandEncoder): void;
  /** Starts reading the timestamps back (after the submit). */
  collect(): void;
}

const attached = new WeakMap<Gpu, DispatchProfiler>();

/**
 * Collects the GPU time of every dispatch submitted on a device while attached.
 *
 * @example
 * ```ts
 * const profiler = DispatchProfiler.attach(gpu); // needs gpu.hasTimestamps
 * await model.generate("Hello", { maxTokens: 1 });
 * const dispatches = await profiler.collect(); // [{ dispatch: { kernel: "matmul_vec4", … }, seconds }, …]
 * profiler.detach();
 * ```
 */
export class DispatchProfiler {
  readonly #gpu: Gpu;
  #pending: Promise<ProfiledDispatch[]>[] = [];

  private constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /**
   * Attaches a profiler to `gpu`: every recorder on it profiles its submits until
   * {@linkcode detach}. Throws when the device has no `timestamp-query` or has one already.
   */
  static attach(gpu: Gpu): DispatchProfiler {
    if (!gpu.hasTimestamps) {
      throw new Error(`${gpu.adapterName} offers no timestamp-query: dispatches cannot be timed`);
    }
    if (attached.has(gpu)) throw new Error("A DispatchProfiler is attached to this device already");
    const profiler = new DispatchProfiler(gpu);
    attached.set(gpu, profiler);
    return profiler;
  }

  /**
   * Runs `body` with a profiler attached to `gpu` and returns every dispatch it submitted,
   * timed; the profiler is detached however `body` ends. Throws as {@linkcode attach} does.
   */
  static async during(gpu: Gpu, body: () => Promise<unknown>): Promise<ProfiledDispatch[]> {
    const profiler = DispatchProfiler.attach(gpu);
    try {
      await body();
      return await profiler.collect();
    } finally {
      profiler.detach();
    }
  }

  /** The profiler attached to `gpu`, if any (the recorder asks at each submit). */
  static of(gpu: Gpu): DispatchProfiler | undefined {
    return attached.get(gpu);
  }

  /** Stops profiling the device's submits (what was collected stays readable). */
  detach(): void {
    if (attached.get(this.#gpu) === this) attached.delete(this.#gpu);
  }

  /**
   * The timestamps of one submit of `dispatches` (called by the recorder as it encodes): a
   * query set per `MAX_QUERIES` timestamps, as many as the submit needs.
   */
  forSubmit(dispatches: Dispatch[]): SubmitTimestamps {
    const count = 2 * dispatches.length;
    const device = this.#gpu.device;
    const querySets = Array.from(
      { length: Math.max(Math.ceil(count / MAX_QUERIES), 1) },
      (_, set) =>
        device.createQuerySet({
          type: "timestamp",
          count: Math.max(Math.min(count - set * MAX_QUERIES, MAX_QUERIES), 2),
        }),
    );
    const bytes = Math.max(count, 2) * TIMESTAMP_BYTES;
    const resolved = device.createBuffer({
      label: "profiler.resolved",
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      label: "profiler.staging",
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    return {
      // MAX_QUERIES is even, so a dispatch's two timestamps fall in the same set.
      writes: (index) => ({
        querySet: querySets[Math.floor((2 * index) / MAX_QUERIES)],
        beginningOfPassWriteIndex: (2 * index) % MAX_QUERIES,
        endOfPassWriteIndex: (2 * index + 1) % MAX_QUERIES,
      }),
      resolve(encoder) {
        // Each set's timestamps land at a multiple of MAX_QUERIES · 8 bytes, 256-byte aligned.
        querySets.forEach((querySet, set) => {
          const first = set * MAX_QUERIES;
          const queries = Math.min(count - first, MAX_QUERIES);
          if (queries > 0) {
            encoder.resolveQuerySet(querySet, 0, queries, resolved, first * TIMESTAMP_BYTES);
          }
        });
        if (count > 0) encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
      },
      collect: () => {
        this.#pending.push(
          (async () => {
            try {
              if (count === 0) return [];
              await staging.mapAsync(GPUMapMode.READ);
              const ns = new BigUint64Array(staging.getMappedRange().slice(0));
              staging.unmap();
              return dispatches.map((dispatch, i) => ({
                dispatch,
                seconds: Math.max(Number(ns[2 * i + 1] - ns[2 * i]), 0) / 1e9,
              }));
            } finally {
              for (const querySet of querySets) querySet.destroy();
              resolved.destroy();
              staging.destroy();
            }
          })(),
        );
      },
    };
  }

  /**
   * Every dispatch profiled since the last `collect`, in submit order, once the GPU has
   * finished them.
   */
  async collect(): Promise<ProfiledDispatch[]> {
    const pending = this.#pending;
    this.#pending = [];
    return (await Promise.all(pending)).flat();
  }
}
