/**
 * Wall-clock timing of GPU work: the work is recorded `reps` times into ONE submit and timed
 * until the queue is idle, with `reps` raised until the run is long enough for Deno's
 * completion floor (a poll then a 10 ms sleep, so every wait costs about 10 ms on any GPU) to
 * be small against it. The floor, measured with empty submits, is subtracted.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import { CommandRecorder } from "./recorder.ts";

/** Options of {@linkcode timeRepeated} and {@linkcode timeRecorded}. */
export interface TimeRepeatedOptions {
  /** Shortest run to accept, in seconds; default 0.1. */
  minSeconds?: number;
  /** Most repetitions in one submit; default 4096. */
  maxReps?: number;
}

/** The outcome of {@linkcode timeRepeated}. */
export interface RepeatedTiming {
  /** Seconds of one repetition, the completion floor taken out. */
  seconds: number;
  /** Repetitions in the measured run. */
  reps: number;
  /** The completion floor that was subtracted, in seconds. */
  floorSeconds: number;
}

/**
 * Times `run`, which does `reps` repetitions of some work and resolves when the GPU has
 * finished them (`run(0)` measures the completion floor). `run` should build its pipelines
 * before it is handed over: nothing here is a warm-up.
 */
export async function timeRepeated(
  run: (reps: number) => Promise<void>,
  options: TimeRepeatedOptions = {},
): Promise<RepeatedTiming> {
  const minSeconds = options.minSeconds ?? 0.1;
  const maxReps = options.maxReps ?? 4096;
  const timed = (reps: number) => secondsOf(run, reps);
  const floorSeconds = await completionFloor(run);
  for (let reps = 1;;) {
    const seconds = await timed(reps);
    const work = Math.max(seconds - floorSeconds, 0);
    if (seconds >= minSeconds || reps >= maxReps) {
      return { seconds: work / reps, reps, floorSeconds };
    }
    // Aim past minSeconds, growing 2× to 16× a round: a run near the floor tells little.
    const wanted = Math.ceil((1.5 * minSeconds * reps) / Math.max(work, 1e-9));
    reps = Math.min(maxReps, Math.max(2 * reps, Math.min(16 * reps, wanted)));
  }
}

/** The completion floor of `run`: the least of three runs without work, in seconds. */
export async function completionFloor(run: (reps: number) => Promise<void>): Promise<number> {
  return Math.min(await secondsOf(run, 0), await secondsOf(run, 0), await secondsOf(run, 0));
}

async function secondsOf(run: (reps: number) => Promise<void>, reps: number): Promise<number> {
  const start = performance.now();
  await run(reps);
  return (performance.now() - start) / 1000;
}

/** Work recorded from a callback, ready to be run `reps` times per submit. */
export interface RecordedWork {
  /** Records the work `reps` times, submits once, and resolves when the GPU is idle. */
  run(reps: number): Promise<void>;
  /** Frees the recorder. */
  dispose(): void;
}

/**
 * Wraps `record` (which records one repetition of some work) for {@linkcode timeRepeated}. The
 * pipelines are built now, by recording once and preparing.
 */
export function repeatRecorded(gpu: Gpu, record: (rec: CommandRecorder) => void): RecordedWork {
  const rec = new CommandRecorder(gpu);
  record(rec);
  rec.prepare();
  return {
    async run(reps) {
      for (let i = 0; i < reps; i++) record(rec);
      rec.submit();
      await gpu.device.queue.onSubmittedWorkDone();
    },
    dispose: () => rec.dispose(),
  };
}

/** Times `record` (one repetition of some work) on `gpu`, every run one submit. */
export async function timeRecorded(
  gpu: Gpu,
  record: (rec: CommandRecorder) => void,
  options: TimeRepeatedOptions = {},
): Promise<RepeatedTiming> {
  const work = repeatRecorded(gpu, record);
  try {
    return await timeRepeated(work.run, options);
  } finally {
    work.dispose();
  }
}
