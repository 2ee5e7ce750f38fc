/**
 * Wall-clock timing of recorded GPU work: the work is recorded `reps` times into ONE submit
 * and timed until `onSubmittedWorkDone`, with `reps` raised until the run is long enough for
 * Deno's completion floor (a poll then a 10 ms sleep, so every wait costs about 10 ms on any
 * GPU) to be small against it. The floor, measured with empty submits, is subtracted.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import { CommandRecorder } from "./recorder.ts";

/** Options of {@linkcode timeRecorded}. */
export interface TimeRecordedOptions {
  /** Shortest run to accept, in seconds; default 0.1. */
  minSeconds?: number;
  /** Most repetitions in one submit; default 4096. */
  maxReps?: number;
}

/** The outcome of {@linkcode timeRecorded}. */
export interface RecordedTiming {
  /** Seconds of one repetition, the completion floor taken out. */
  seconds: number;
  /** Repetitions in the measured submit. */
  reps: number;
  /** The completion floor that was subtracted, in seconds. */
  floorSeconds: number;
}

/**
 * Times `record` (which records one repetition of some work) on `gpu`. A first submit, not
 * timed, builds the pipelines.
 */
export async function timeRecorded(
  gpu: Gpu,
  record: (rec: CommandRecorder) => void,
  options: TimeRecordedOptions = {},
): Promise<RecordedTiming> {
  const minSeconds = options.minSeconds ?? 0.1;
  const maxReps = options.maxReps ?? 4096;
  const rec = new CommandRecorder(gpu);
  try {
    await run(gpu, rec, record, 1);
    const floorSeconds = Math.min(
      await run(gpu, rec, record, 0),
      await run(gpu, rec, record, 0),
      await run(gpu, rec, record, 0),
    );
    for (let reps = 1;;) {
      const seconds = await run(gpu, rec, record, reps);
      const work = Math.max(seconds - floorSeconds, 0);
      if (seconds >= minSeconds || reps >= maxReps) {
        return { seconds: work / reps, reps, floorSeconds };
      }
      // Aim past minSeconds, growing 2× to 16× a round: a run near the floor tells little.
      const wanted = Math.ceil((1.5 * minSeconds * reps) / Math.max(work, 1e-9));
      reps = Math.min(maxReps, Math.max(2 * reps, Math.min(16 * reps, wanted)));
    }
  } finally {
    rec.dispose();
  }
}

/** Records `reps` repetitions, submits them at once, and returns the seconds until done. */
async function run(
  gpu: Gpu,
  rec: CommandRecorder,
  record: (rec: CommandRecorder) => void,
  reps: number,
): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < reps; i++) record(rec);
  rec.submit();
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - start) / 1000;
}
