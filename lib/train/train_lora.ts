/**
 * The LoRA training loop: epochs or max steps, shuffled micro-batches, gradient accumulation
 * with a token-weighted step loss, clipping, learning-rate schedules, seeded dropout, progress
 * events, checkpoints that resume exactly, and cancellation through an AbortSignal.
 *
 * @module
 */
import { checkSeed } from "../util/seed.ts";
import { TRAINING_DEFAULTS } from "../defaults.ts";
import { withGpuErrors } from "../gpu/device.ts";
import type { Model } from "../model/model.ts";
import { type LoraOptions, resolveLoraConfig } from "../lora/lora_config.ts";
import { initLoraWeights, type LoraWeights } from "../lora/lora_weights.ts";
import { hash2 } from "../util/hash.ts";
import { Rng } from "../util/rng.ts";
import { packBatch, type TokenizedExample } from "./batch.ts";
import { TrainingDivergedError } from "./diverged.ts";
import { evaluateLoss } from "./evaluate.ts";
import { GpuLoraTrainer } from "./gpu_lora_trainer.ts";
import { learningRateAt, type LrScheduler } from "./lr_schedule.ts";
import type { TrainingState } from "./training_state.ts";

/** Optimizer steps the host may submit ahead of the GPU's progress when it reads nothing back. */
const MAX_STEPS_IN_FLIGHT = 2;

/**
 * Options of {@linkcode trainLora}; the defaults (`TRAINING_DEFAULTS` in `lib/defaults.ts`) are
 * those of the user's PEFT + Trainer script.
 */
export interface TrainLoraOptions {
  /** LoRA hyper-parameters (r 16, alpha 32, dropout 0.1, q/k/v by default). */
  lora?: LoraOptions;
  /** Passes over the data; default 3. Ignored when `maxSteps` is set. */
  epochs?: number;
  /** Stop after this many optimizer steps. */
  maxSteps?: number;
  /** Sequences per micro-batch; default 1. */
  batchSize?: number;
  /** Micro-batches per optimizer step; default 4. */
  gradAccum?: number;
  /** Peak learning rate; default 1e-4. */
  lr?: number;
  /** "adamw" (default) or "sgd". */
  optimizer?: "adamw" | "sgd";
  /** Decoupled weight decay; default 0. */
  weightDecay?: number;
  /** AdamW betas; default [0.9, 0.999]. */
  betas?: [number, number];
  /** AdamW epsilon; default 1e-8. */
  eps?: number;
  /** Schedule; default "linear" (Hugging Face Trainer's). */
  scheduler?: LrScheduler;
  /** Linear warmup steps; default 0. */
  warmupSteps?: number;
  /** Global-norm clipping; default 1.0, 0 disables. */
  maxGradNorm?: number;
  /** Recompute each layer in backward to save activation memory. */
  gradCheckpoint?: boolean;
  /** Seed of the adapter init, data order and dropout; default 42. */
  seed?: number;
  /** Start from this adapter instead of a fresh one (`--init-adapter`). */
  initAdapter?: LoraWeights;
  /** Continue from this checkpoint (`--resume`). */
  resume?: TrainingState;
  /**
   * Read the loss and gradient norm back every N steps (Hugging Face's `logging_steps`), and on
   * the last step and every checkpoint step; default 1. Between reads the step losses add up on
   * the GPU, so steps in between cost no readback and no wait for the GPU.
   */
  logEvery?: number;
  /** Produce a checkpoint every N steps (and at the end, and on cancel); 0 = only at the end. */
  checkpointEvery?: number;
  /** Receives checkpoints (the CLI writes them to disk atomically). */
  onCheckpoint?: (state: TrainingState) => Promise<void>;
  /** Held-out examples; their loss is reported at the end of each epoch and of training. */
  validation?: TokenizedExample[];
  /** Cancels between steps. */
  signal?: AbortSignal;
}

/** Progress after one optimizer step. */
export interface TrainStepEvent {
  /** Steps done (1-based). */
  step: number;
  /** Steps planned. */
  totalSteps: number;
  /** Current epoch (1-based). */
  epoch: number;
  /**
   * On logged steps (see `logEvery`): the mean of the step losses since the previous logged
   * step, each the mean over its step's label tokens. Absent on other steps.
   */
  loss?: number;
  /** Learning rate used. */
  lr: number;
  /** On logged steps: the gradient norm of this step, before clipping. */
  gradNorm?: number;
  /** Tokens processed per second since the start (padding excluded). */
  tokensPerSecond: number;
  /** Seconds since the start. */
  elapsedSeconds: number;
  /** Estimated seconds left. */
  etaSeconds: number;
  /** Validation loss, on steps that end an epoch or the run when validation data is given. */
  validationLoss?: number;
}

/** A loss at a step. */
export interface LossPoint {
  /** The step (1-based). */
  step: number;
  /** The loss. */
  loss: number;
}

/** The outcome of a run. */
export interface TrainResult {
  /** The trained adapter. */
  adapter: LoraWeights;
  /** Steps done. */
  steps: number;
  /** The loss of every logged step (every step when `logEvery` is 1), as in its event. */
  losses: LossPoint[];
  /** "completed" or "cancelled". */
  status: "completed" | "cancelled";
  /** Mean tokens per second. */
  tokensPerSecond: number;
  /** Peak GPU bytes allocated during the run. */
  peakGpuBytes: number;
  /** The final validation loss, when validation data was given. */
  validationLoss?: number;
}

/**
 * Trains a LoRA adapter on `examples` for a WebGPU `model`, yielding an event per optimizer
 * step and returning the adapter. A logged step whose loss or gradient norm is NaN or infinite
 * stops the run with a {@linkcode TrainingDivergedError}, before any checkpoint of it is saved.
 *
 * @example
 * ```ts
 * const run = trainLora(model, examples, { lora: { r: 16, alpha: 32 }, epochs: 3, lr: 1e-4 });
 * let next = await run.next();
 * for (; !next.done; next = await run.next()) console.log(next.value.step, next.value.loss);
 * const { adapter } = next.value;
 * ```
 */
export async function* trainLora(
  model: Model,
  examples: TokenizedExample[],
  options: TrainLoraOptions = {},
): AsyncGenerator<TrainStepEvent, TrainResult> {
  const gpu = model.gpu, weights = model.gpuWeights;
  if (!gpu || !weights) {
    throw new Error("Training needs the WebGPU backend; the model was loaded on the CPU");
  }
  if (examples.length === 0) throw new RangeError("No training examples");
  const o = resolveTrainOptions(options);
  const lora = options.resume?.adapter.config ?? options.initAdapter?.config ??
    resolveLoraConfig(options.lora);
  const fingerprint = JSON.stringify({
    lora,
    batchSize: o.batchSize,
    gradAccum: o.gradAccum,
    n: examples.length,
  });
  if (options.resume && options.resume.fingerprint !== fingerprint) {
    throw new Error(
      "Checkpoint was made with other LoRA, batch or data settings; it cannot resume this run",
    );
  }
  const start = options.resume ?? {
    step: 0,
    adapter: options.initAdapter ?? initLoraWeights(model.config, lora, o.seed),
    optimizer: [],
    seed: o.seed,
    losses: [],
    fingerprint,
  };
  const seqLen = Math.max(
    ...examples.map((e) => e.inputIds.length),
    ...(options.validation ?? []).map((e) => e.inputIds.length),
  );
  const padId = model.tokenizer.padId ?? 0; // masked from the loss
  model.releaseBuffers(); // the KV cache is not needed while training
  gpu.memory.resetPeak();
  const trainer = await withGpuErrors(
    gpu.device,
    "allocating training buffers",
    () =>
      new GpuLoraTrainer(gpu, model.config, weights, start.adapter, {
        batchSize: o.batchSize,
        seqLen,
        gradCheckpoint: o.gradCheckpoint,
        optimizer: o.optimizer,
      }),
  );
  start.optimizer.forEach((slot, s) => trainer.writeOptimizerState(s, slot));
  const microPerEpoch = Math.ceil(examples.length / o.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / o.gradAccum);
  const totalSteps = o.maxSteps ?? stepsPerEpoch * o.epochs;
  const losses = [...start.losses];
  const started = performance.now();
  let tokens = 0, unloggedSteps = 0, step = start.step, status: TrainResult["status"] = "completed";
  const inFlight: Promise<void>[] = []; // completion of the steps submitted and not yet waited for
  let validationLoss: number | undefined;
  let lastCheckpoint: number | null = options.resume?.step ?? null;
  const checkpoint = async () => {
    if (!options.onCheckpoint) return;
    lastCheckpoint = step;
    const slots = o.optimizer === "adamw" ? [0, 1] : [];
    await options.onCheckpoint({
      step,
      adapter: await trainer.readAdapter(),
      optimizer: await Promise.all(slots.map((s) => trainer.readOptimizerState(s))),
      seed: start.seed,
      fingerprint,
      losses: [...losses],
    });
  };
  try {
    while (step < totalSteps) {
      if (options.signal?.aborted) {
        status = "cancelled";
        break;
      }
      const epoch = Math.floor(step / stepsPerEpoch);
      const order = epochOrder(examples.length, start.seed, epoch);
      const first = (step % stepsPerEpoch) * o.gradAccum;
      const micro: TokenizedExample[][] = [];
      for (let m = first; m < Math.min(first + o.gradAccum, microPerEpoch); m++) {
        micro.push(order.slice(m * o.batchSize, (m + 1) * o.batchSize).map((i) => examples[i]));
      }
      const batches = micro.map((b) => packBatch(b, padId));
      const labelTokens = batches.reduce((n, b) => n + b.labelTokens, 0);
      const logged = step + 1 === totalSteps || (step + 1) % o.logEvery === 0 ||
        (o.checkpointEvery > 0 && (step + 1) % o.checkpointEvery === 0);
      const lr = learningRateAt(o.scheduler, o.lr, step, totalSteps, o.warmupSteps);
      const update = {
        lr,
        step: step + 1,
        maxGradNorm: o.maxGradNorm,
        weightDecay: o.weightDecay,
        betas: o.betas,
        eps: o.eps,
      };
      // One submit per micro-batch; the last one also carries the optimizer update, and on a
      // logged step reads back the losses summed on the GPU since the last logged step.
      let total: Promise<number> | null = null;
      batches.forEach((batch, i) => {
        const last = i === batches.length - 1;
        total = trainer.microStep(
          batch,
          {
            lossScale: 1 / Math.max(1, labelTokens),
            zeroGrads: i === 0,
            dropoutSeed: hash2(start.seed, step * o.gradAccum + i),
          },
          logged && last,
          last ? update : undefined,
        );
      });
      // Steps that read nothing back do not wait for the GPU, so without a bound the host could
      // queue any number of them (and their uniforms) ahead: keep at most MAX_STEPS_IN_FLIGHT.
      inFlight.push(gpu.device.queue.onSubmittedWorkDone());
      if (inFlight.length > MAX_STEPS_IN_FLIGHT) await inFlight.shift();
      step++;
      unloggedSteps++;
      tokens += batches.reduce((n, b) => n + b.tokens, 0);
      let logs: { loss: number; gradNorm: number } | undefined;
      if (logged) {
        logs = { loss: (await total!) / unloggedSteps, gradNorm: await trainer.lastGradNorm() };
        if (!Number.isFinite(logs.loss) || !Number.isFinite(logs.gradNorm)) {
          throw new TrainingDivergedError(step, logs.loss, logs.gradNorm, lastCheckpoint);
        }
        losses.push({ step, loss: logs.loss });
        unloggedSteps = 0;
      }
      const endsEpoch = step % stepsPerEpoch === 0 || step === totalSteps;
      if (endsEpoch && options.validation?.length) {
        validationLoss = (await evaluateLoss(trainer, options.validation, o.batchSize, padId)).loss;
      }
      const elapsedSeconds = (performance.now() - started) / 1000;
      const done = step - start.step;
      yield {
        step,
        totalSteps,
        epoch: epoch + 1,
        ...logs,
        lr,
        tokensPerSecond: tokens / elapsedSeconds,
        elapsedSeconds,
        etaSeconds: (elapsedSeconds / done) * (totalSteps - step),
        ...(endsEpoch && validationLoss !== undefined ? { validationLoss } : {}),
      };
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < totalSteps) {
        await checkpoint();
      }
    }
    await checkpoint();
    const elapsed = (performance.now() - started) / 1000;
    return {
      adapter: await trainer.readAdapter(),
      steps: step,
      losses,
      status,
      tokensPerSecond: tokens / Math.max(elapsed, 1e-9),
      peakGpuBytes: gpu.memory.report().peak,
      ...(validationLoss !== undefined ? { validationLoss } : {}),
    };
  } finally {
    trainer.dispose();
  }
}

/** The shuffled example order of an epoch: a seeded Fisher–Yates permutation. */
function epochOrder(n: number, seed: number, epoch: number): number[] {
  return new Rng(hash2(seed, 0x5eed + epoch)).permutation(n);
}

function resolveTrainOptions(options: TrainLoraOptions) {
  const d = TRAINING_DEFAULTS;
  const o = {
    epochs: options.epochs ?? d.epochs,
    maxSteps: options.maxSteps,
    batchSize: options.batchSize ?? d.batchSize,
    gradAccum: options.gradAccum ?? d.gradAccum,
    lr: options.lr ?? d.lr,
    optimizer: options.optimizer ?? d.optimizer,
    weightDecay: options.weightDecay ?? d.weightDecay,
    betas: options.betas ?? [...d.betas],
    eps: options.eps ?? d.eps,
    scheduler: options.scheduler ?? d.scheduler,
    warmupSteps: options.warmupSteps ?? d.warmupSteps,
    maxGradNorm: options.maxGradNorm ?? d.maxGradNorm,
    gradCheckpoint: options.gradCheckpoint ?? d.gradCheckpoint,
    seed: options.seed ?? d.seed,
    checkpointEvery: options.checkpointEvery ?? d.checkpointEvery,
    logEvery: options.logEvery ?? d.logEvery,
  };
  const positiveInt = (name: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new RangeError(`${name} ${v} must be a positive integer`);
    }
  };
  positiveInt("epochs", o.epochs);
  positiveInt("maxSteps", o.maxSteps);
  positiveInt("batchSize", o.batchSize);
  positiveInt("gradAccum", o.gradAccum);
  positiveInt("logEvery", o.logEvery);
  if (!(o.lr > 0)) throw new RangeError(`Learning rate ${o.lr} must be positive`);
  checkSeed(o.seed, "Training seed");
  if (o.optimizer !== "adamw" && o.optimizer !== "sgd") {
    throw new RangeError(`Unknown optimizer ${JSON.stringify(o.optimizer)}: expected adamw or sgd`);
  }
  if (!(o.maxGradNorm >= 0)) throw new RangeError(`maxGradNorm ${o.maxGradNorm} must be ≥ 0`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`weightDecay ${o.weightDecay} must be ≥ 0`);
  return o;
}
