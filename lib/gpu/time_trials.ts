/**
 * Repeated timings of one piece of recorded GPU work, for choosing between kernels: the number
 * of repetitions per submit is found once (enough for a run to last `minSeconds`, far above
 * Deno's 10 ms completion floor), then every trial runs that many and reports seconds per
 * repetition with the floor taken out.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import type { CommandRecorder } from "./recorder.ts";
import { repeatRecorded, timeRepeated } from "./time_recorded.ts";

/** Trials of one piece of work, each as long as the first run found sufficient. */
export interface TrialTimer {
  /** Repetitions per trial. */
  readonly reps: number;
  /** Runs one trial: seconds of one repetition, the completion floor subtracted. */
  trial(): Promise<number>;
  /** Frees the recorder. */
  dispose(): void;
}

/**
 * Prepares trials of `record` (one repetition of the work) on `gpu`: builds its pipelines and
 * finds how many repetitions last at least `minSeconds`.
 */
export async function trialTimer(
  gpu: Gpu,
  record: (rec: CommandRecorder) => void,
  minSeconds: number,
): Promise<TrialTimer> {
  const work = repeatRecorded(gpu, record);
  try {
    const { reps, floorSeconds } = await timeRepeated(work.run, { minSeconds });
    return {
      reps,
      async trial() {
        const start = performance.now();
        await work.run(reps);
        const seconds = (performance.now() - start) / 1000;
        return Math.max(seconds - floorSeconds, 0) / reps;
      },
      dispose: () => work.dispose(),
    };
  } catch (e) {
    work.dispose();
    throw e;
  }
}
