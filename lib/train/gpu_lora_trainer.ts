/**
 * LoRA training on WebGPU: owns the training plan's buffers and the adapter's parameters,
 * gradients and optimizer state, and records each micro-step (forward, loss, backward, and on
 * the last micro-batch the optimizer update) into one command encoder and one submit. The
 * passes themselves live in `layer_forward.ts`, `layer_backward.ts`, `lm_head_loss.ts` and
 * `optimizer_step.ts`; this class passes them the step's state as arguments.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows, D hidden, R rank, L layers.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type Allocated, allocatePlan, destroyAllocated } from "../gpu/buffer_plan.ts";
import { CommandRecorder } from "../gpu/recorder.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "../model/config.ts";
import { loraScaleOf } from "../lora/lora_config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import type { LoraPair, ProjectionAdapter } from "../lora/projection_adapter.ts";
import type { GpuWeights } from "../model/gpu_weights.ts";
import { loraKey, type Projection } from "../model/names.ts";
import { recordRmsnormBackward } from "../ops/rmsnorm_backward.ts";
import { ropeTables } from "../model/rope_frequencies.ts";
import { packBatch, type PackedBatch } from "./batch.ts";
import {
  type ForwardLoss,
  LossTotals,
  readF32,
  recordForwardLoss,
  writeBatch,
} from "./forward_loss.ts";
import { recordLayerBackward } from "./layer_backward.ts";
import { activationsAt, recordLayerForward, residualAt } from "./layer_forward.ts";
import { recordLossBackward } from "./lm_head_loss.ts";
import {
  type OptimizerKind,
  type OptimizerStepOptions,
  recordOptimizerStep,
} from "./optimizer_step.ts";
import type { PassContext } from "./pass_context.ts";
import { planTraining, type TrainingPlan } from "./train_plan.ts";
import { TRANSPOSED_WEIGHTS_BYTES, TransposedWeights } from "./transposed_weights.ts";

/** Shapes and switches of a trainer. */
export interface GpuTrainerOptions {
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Longest sequence. */
  seqLen: number;
  /** Recompute each layer in backward. */
  gradCheckpoint?: boolean;
  /** Optimizer kind; decides how much state is allocated. */
  optimizer?: OptimizerKind;
  /**
   * Keep the forward's (N, V) logits for the backward when they fit (`KEPT_LOGITS_BYTES`), so
   * that the LM head is not recomputed; default true (false: benchmarks compare the two).
   */
  keepLogits?: boolean;
  /**
   * Most bytes of transposed copies of the frozen weights that the backward reads instead of
   * the weights (`TransposedWeights`); default `TRANSPOSED_WEIGHTS_BYTES`, 0 for none.
   */
  transposedWeightsBytes?: number;
}

/** Per-micro-step settings. */
export interface MicroStepOptions {
  /**
   * Multiplies the summed token losses, both as the gradient's scale and as they are added to
   * the running loss total: 1 / label tokens of the whole optimizer step makes the total of a
   * step its mean token loss.
   */
  lossScale: number;
  /** Zero the gradients first (the first micro-step of an optimizer step). */
  zeroGrads: boolean;
  /** Seed of this micro-step's dropout masks. */
  dropoutSeed: number;
}

const TRAINING_SLOT = 0, FORWARD_SLOT = 1; // slots of the running loss totals

/** Trains one LoRA adapter on a frozen GPU model. */
export class GpuLoraTrainer implements ForwardLoss {
  /** The model's config. */
  readonly config: ModelConfig;
  /** The adapter's hyper-parameters and its keys. */
  readonly lora: LoraWeights["config"];
  readonly #gpu: Gpu;
  readonly #weights: GpuWeights;
  readonly #t: Allocated<TrainingPlan>;
  readonly #params = new Map<string, Allocated<TrainingPlan>["parameters"][number]>(); // by PEFT key
  readonly #rec: CommandRecorder;
  readonly #options: Required<GpuTrainerOptions>;
  readonly #adapter: ProjectionAdapter; // the parameters, as the passes bind them
  readonly #transposed: TransposedWeights;
  readonly #totals = new LossTotals();
  #gradNorm: Promise<number> | null = null;

  /** Allocates the planned buffers and uploads the adapter's initial values. */
  constructor(
    gpu: Gpu,
    config: ModelConfig,
    weights: GpuWeights,
    adapter: LoraWeights,
    options: GpuTrainerOptions,
  ) {
    this.#gpu = gpu;
    this.config = config;
    this.#weights = weights;
    this.lora = adapter.config;
    this.#options = {
      gradCheckpoint: false,
      optimizer: "adamw",
      keepLogits: true,
      transposedWeightsBytes: TRANSPOSED_WEIGHTS_BYTES,
      ...options,
    };
    this.#rec = new CommandRecorder(gpu);
    this.#t = allocatePlan(
      gpu,
      planTraining(config, adapter.config, {
        batchSize: options.batchSize,
        seqLen: options.seqLen,
        gradCheckpoint: this.#options.gradCheckpoint,
        maxBindingBytes: gpu.maxBindingBytes,
        keepLogits: this.#options.keepLogits,
        optimizerStates: this.#options.optimizer === "adamw" ? 2 : 0,
      }),
    );
    for (const p of this.#t.parameters) this.#params.set(p.key, p);
    const { cos, sin } = ropeTables(config, options.seqLen);
    this.#t.rope.cos.write(new Uint8Array(cos.buffer));
    this.#t.rope.sin.write(new Uint8Array(sin.buffer));
    this.#adapter = {
      rank: adapter.config.r,
      scale: loraScaleOf(adapter.config),
      pair: (l, p) => this.#pair(l, p, "param"),
    };
    this.writeAdapter(adapter);
    const copyBytes = this.#options.transposedWeightsBytes;
    this.#transposed = TransposedWeights.create(this.#rec, config, weights, copyBytes);
    this.#buildPipelines();
  }

  /** The transposed copies of the frozen weights that the backward reads. */
  get transposedWeights(): TransposedWeights {
    return this.#transposed;
  }

  /** GPU traffic counters (submits, dispatches, readbacks). */
  get counters(): CommandRecorder["counters"] {
    return this.#rec.counters;
  }

  /** Replaces the adapter's values (initialisation, `--init-adapter`, resume). */
  writeAdapter(adapter: LoraWeights): void {
    for (const [key, values] of adapter.tensors) writeF32(this.#param(key).param, values);
  }

  /** Writes optimizer state slot `slot` (AdamW: 0 = m, 1 = v) for every parameter. */
  writeOptimizerState(slot: number, state: Map<string, Float32Array>): void {
    for (const [key, values] of state) writeF32(this.#param(key).states[slot], values);
  }

  /** Reads the adapter's current values. */
  readAdapter(): Promise<LoraWeights> {
    return this.#readAll((p) => p.param).then((tensors) => ({ config: this.lora, tensors }));
  }

  /** Reads the accumulated gradients by PEFT key. */
  readGradients(): Promise<Map<string, Float32Array>> {
    return this.#readAll((p) => p.grad);
  }

  /** Reads optimizer state slot `slot` by PEFT key. */
  readOptimizerState(slot: number): Promise<Map<string, Float32Array>> {
    return this.#readAll((p) => p.states[slot]);
  }

  /**
   * Records forward, loss and backward of one micro-batch and submits it. With `update` (the
   * last micro-batch of a step) the optimizer update goes into the same encoder and submit.
   *
   * The scaled loss (`lossScale` · summed token losses) is added to a running total on the GPU.
   * With `read` set, the total (including this micro-batch) comes back, and the next
   * micro-step starts it over; with `update` as well, {@linkcode lastGradNorm} gets that
   * update's gradient norm. Without `read` nothing is read back and null is returned.
   */
  microStep(
    batch: PackedBatch,
    options: MicroStepOptions,
    read: boolean,
    update?: OptimizerStepOptions,
  ): Promise<number> | null {
    const total = this.#recordMicroStep(batch, options, read);
    if (update) this.#recordOptimizerStep(update); // same encoder: one submit per micro-step
    if (update) this.#gradNorm = read ? this.#readNorm() : null;
    this.#rec.submit();
    return total && readF32(total);
  }

  /** The forward pass and loss of `batch` with the current adapter, no dropout (validation). */
  forwardLoss(batch: PackedBatch, read: boolean): Promise<number> | null {
    const ctx = this.#context(batch, null);
    const total = recordForwardLoss(ctx, this.#t, this.#totals.next(FORWARD_SLOT, 1), read);
    this.#totals.recorded(FORWARD_SLOT, read);
    this.#rec.submit();
    return total && readF32(total);
  }

  /** The global gradient norm (before clipping) of the last optimizer update. */
  lastGradNorm(): Promise<number> {
    if (!this.#gradNorm) {
      throw new Error("No gradient norm was read: no update yet, or the last one was not read");
    }
    return this.#gradNorm;
  }

  /**
   * Records and submits the optimizer update of every parameter, after global-norm clipping
   * computed on the GPU. Returns the gradient norm when `readNorm` is set.
   */
  optimizerStep(options: OptimizerStepOptions, readNorm: boolean): Promise<number> | null {
    this.#recordOptimizerStep(options);
    const norm = readNorm ? this.#readNorm() : null;
    if (norm) this.#gradNorm = norm;
    this.#rec.submit();
    return norm;
  }

  /** Frees every buffer (the base weights belong to the caller). */
  dispose(): void {
    destroyAllocated(this.#t);
    this.#transposed.destroy();
    this.#rec.dispose();
  }

  /** Records forward, loss and backward; returns the loss total's readback when `read`. */
  #recordMicroStep(
    batch: PackedBatch,
    options: MicroStepOptions,
    read: boolean,
  ): Promise<ArrayBuffer> | null {
    const dropout = this.lora.dropout > 0
      ? { p: this.lora.dropout, seed: options.dropoutSeed, scratch: this.#t.loraScratch.buffer }
      : null;
    const ctx = this.#context(batch, dropout);
    if (options.zeroGrads) { for (const p of this.#t.parameters) this.#rec.clear(p.grad.buffer); }
    const slot = this.#totals.next(TRAINING_SLOT, options.lossScale);
    const total = recordForwardLoss(ctx, this.#t, slot, read);
    this.#totals.recorded(TRAINING_SLOT, read);
    this.#recordBackward(ctx, options.lossScale);
    return total;
  }

  /** The backward pass: from the loss through the final norm and every layer, last first. */
  #recordBackward(ctx: PassContext, lossScale: number): void {
    const c = this.config, t = this.#t, g = t.grads, L = c.numLayers;
    recordLossBackward(ctx, t.loss, t.targets.buffer, lossScale, g.n.buffer); // d final.n
    recordRmsnormBackward(ctx.rec, {
      x: residualAt(t, L),
      weight: this.#weights.finalNorm,
      rstd: t.loss.finalRstd.buffer,
      dy: g.n.buffer,
      dx: g.x.buffer,
      rows: ctx.batch.B * ctx.batch.T,
    }); // d x_L = d rmsnorm_final
    const buffers = {
      grads: g,
      loraGrads: (l: number, p: Projection) => this.#pair(l, p, "grad")!,
    };
    for (let l = L - 1; l >= 0; l--) {
      const a = activationsAt(t, l), x = residualAt(t, l);
      if (this.#options.gradCheckpoint) recordLayerForward(ctx, l, a, x, null); // recompute layer l
      recordLayerBackward(ctx, l, a, x, buffers);
    }
  }

  #recordOptimizerStep(options: OptimizerStepOptions): void {
    recordOptimizerStep(
      this.#rec,
      this.#t.parameters,
      this.#t.gradNorm,
      this.#options.optimizer,
      options,
    );
  }

  /** Records a micro-step and an optimizer step, then discards them: builds every pipeline now. */
  #buildPipelines(): void {
    const T = Math.min(2, this.#options.seqLen);
    const batch = packBatch([{ inputIds: new Array(T).fill(0), labels: new Array(T).fill(0) }], 0);
    this.#recordMicroStep(batch, { lossScale: 1, zeroGrads: true, dropoutSeed: 0 }, false);
    this.#recordOptimizerStep({
      lr: 0,
      step: 1,
      maxGradNorm: 1,
      weightDecay: 0,
      betas: [0.9, 0.999],
      eps: 1e-8,
    });
    this.#rec.prepare();
    this.#totals.recorded(TRAINING_SLOT, true); // the discarded step's total was never recorded
  }

  /** The batch written to the GPU, and the state its passes record with. */
  #context(batch: PackedBatch, dropout: PassContext["dropout"]): PassContext {
    const capacity = { ...this.#options, vocabSize: this.config.vocabSize };
    return {
      rec: this.#rec,
      config: this.config,
      weights: this.#weights,
      batch: writeBatch(this.#gpu, this.#t, batch, capacity),
      rope: { cos: this.#t.rope.cos.buffer, sin: this.#t.rope.sin.buffer },
      adapter: this.#adapter,
      dropout,
      transposed: this.#transposed,
    };
  }

  #readNorm(): Promise<number> {
    return readF32(this.#rec.read(this.#t.gradNorm.sumSq.buffer, 0, 4)).then(Math.sqrt);
  }

  /** A projection's A and B parameters (`param`) or their gradients (`grad`), if adapted. */
  #pair(l: number, p: Projection, kind: "param" | "grad"): LoraPair | undefined {
    const a = this.#params.get(loraKey(l, p, "A")), b = this.#params.get(loraKey(l, p, "B"));
    return a && b ? { a: a[kind].buffer, b: b[kind].buffer } : undefined;
  }

  #param(key: string): Allocated<TrainingPlan>["parameters"][number] {
    const p = this.#params.get(key);
    if (!p) throw new Error(`No planned training buffer for ${key}`);
    return p;
  }

  async #readAll(pick: (p: Allocated<TrainingPlan>["parameters"][number]) => GpuTensor) {
    const reads = this.#t.parameters.map((p) => {
      const t = pick(p);
      return [p.key, this.#rec.read(t.buffer, 0, t.numel * 4)] as const;
    });
    this.#rec.submit();
    const out = new Map<string, Float32Array>();
    for (const [key, read] of reads) out.set(key, new Float32Array(await read));
    return out;
  }
}

/** Writes f32 values into a tensor of exactly that many elements. */
function writeF32(t: GpuTensor, values: Float32Array): void {
  if (values.length !== t.numel) {
    throw new RangeError(`${t.label} needs ${t.numel} values, got ${values.length}`);
  }
  t.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}
