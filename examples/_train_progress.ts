/**
 * Drives a training run for the command line: a progress bar (or JSONL on stdout with
 * `json`), each step appended to `train_log.jsonl` beside the adapter, and the validation
 * points for the loss curve.
 *
 * @module
 */
import cliProgress from "cli-progress";
import { join } from "node:path";
import type { TrainResult, TrainStepEvent } from "../mod.ts";

/** The outcome of {@linkcode followTraining}. */
export interface FollowedRun {
  /** The run's result. */
  result: TrainResult;
  /** Validation losses by step, for the loss curve. */
  validation: { step: number; loss: number }[];
}

/** One step as a JSON line, in snake_case like the rest of the CLI output; loss and grad_norm on logged steps. */
function stepJson(e: TrainStepEvent): string {
  return JSON.stringify({
    step: e.step,
    total_steps: e.totalSteps,
    epoch: e.epoch,
    loss: e.loss,
    lr: e.lr,
    grad_norm: e.gradNorm,
    tokens_per_second: e.tokensPerSecond,
    elapsed_seconds: e.elapsedSeconds,
    eta_seconds: e.etaSeconds,
    ...(e.validationLoss !== undefined ? { validation_loss: e.validationLoss } : {}),
  });
}

/** How {@linkcode followTraining} reports. */
export interface FollowOptions {
  /** JSON lines on stdout instead of a progress bar. */
  json: boolean;
  /** A resumed run appends to the earlier run's log; a fresh one starts it anew. */
  resumed: boolean;
}

/**
 * Consumes the run's events. `out` and its `train_log.jsonl` are made at the first step (so a
 * run refused before it leaves no folder behind); each step is appended as one line.
 */
export async function followTraining(
  run: AsyncGenerator<TrainStepEvent, TrainResult>,
  out: string,
  { json, resumed }: FollowOptions,
): Promise<FollowedRun> {
  const logPath = join(out, "train_log.jsonl");
  let log: Deno.FsFile | undefined;
  const validation: { step: number; loss: number }[] = [];
  const bar = json ? null : new cliProgress.SingleBar({
    format: "train |{bar}| {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}",
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  try {
    while (true) {
      const next = await run.next();
      if (next.done) return { result: next.value, validation };
      const e = next.value;
      const line = stepJson(e);
      if (log === undefined) {
        await Deno.mkdir(out, { recursive: true });
        log = await Deno.open(logPath, {
          create: true,
          write: true,
          append: resumed,
          truncate: !resumed,
        });
      }
      await log.write(new TextEncoder().encode(line + "\n"));
      if (e.validationLoss !== undefined) validation.push({ step: e.step, loss: e.validationLoss });
      if (json) console.log(line);
      else {
        if (!bar!.isActive) bar!.start(e.totalSteps, 0, { loss: "-", tps: "-" });
        const loss = e.loss?.toFixed(4);
        bar!.update(e.step, { ...(loss ? { loss } : {}), tps: e.tokensPerSecond.toFixed(0) });
      }
    }
  } finally {
    bar?.stop();
    log?.close();
  }
}
