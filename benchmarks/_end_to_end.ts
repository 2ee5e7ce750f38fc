/**
 * End-to-end measurements of one model on the GPU: prefill, greedy decode through the
 * generation loop (GPU sampling, chained steps), and LoRA training steps, each with the GPU
 * traffic counters (dispatches, submits, readbacks) and the pipelines built. The bench file
 * runs the steps as benches; the BENCHMARKS.md generator runs them once and summarises them
 * (`_end_to_end_tables.ts`).
 *
 * Dimensions: B sequences, T tokens per sequence, P prompt tokens, D decoded tokens.
 *
 * @module
 */
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import type { GpuCounters } from "../lib/gpu/recorder.ts";
import type { GpuTensor } from "../lib/gpu/tensor.ts";
import { generateText } from "../lib/generate/generate.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import { modelParameterCount } from "../lib/model/shapes.ts";
import { readTokenizer } from "../lib/text/tokenizer_files.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { initLoraWeights } from "../lib/lora/lora_weights.ts";
import { destroyWeights, type GpuWeights, uploadWeights } from "../lib/model/gpu_weights.ts";
import { GpuEngine } from "../lib/model/gpu_engine.ts";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { memoryModelSource, type ModelSource } from "../lib/format/model_source.ts";
import { tuneMatmul } from "../lib/ops/matmul_tuning.ts";
import { Rng } from "../lib/util/rng.ts";
import type { TextTokenizer } from "../lib/text/tokenizer.ts";
import { packBatch, type PackedBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer, type GpuTrainerOptions } from "../lib/train/gpu_lora_trainer.ts";

/** What to run on a model. */
export interface EndToEndPlan {
  /** Prompt tokens P. */
  promptTokens: number;
  /** Tokens decoded after the first D. */
  decodeTokens: number;
  /** Training micro-batch: B sequences of T tokens. */
  batchSize: number;
  /** T. */
  seqLen: number;
  /** LoRA rank on every linear projection. */
  rank: number;
}

/** Counters of one operation. */
export type Traffic = GpuCounters;

/** Seconds and GPU traffic of one operation. */
export interface Measured {
  /** Wall-clock seconds. */
  seconds: number;
  /** Dispatches, submits and readbacks it made. */
  traffic: Traffic;
}

/** Facts about the model as loaded. */
export interface LoadFacts {
  /** Parameters of the model. */
  parameters: number;
  /** Bytes of weights on the GPU. */
  weightBytes: number;
  /** Pipelines on the device after the matmul tuning, before the model. */
  pipelinesBeforeModel: number;
  /** Pipelines on the device once the model is built. */
  pipelinesAtLoad: number;
}

/** (a − b) / per for every counter. */
export const trafficMinus = (a: Traffic, b: Traffic, per = 1): Traffic => ({
  submits: (a.submits - b.submits) / per,
  dispatches: (a.dispatches - b.dispatches) / per,
  readbacks: (a.readbacks - b.readbacks) / per,
  bindGroups: (a.bindGroups - b.bindGroups) / per,
});

/** A model loaded on the GPU for the end-to-end measurements. */
export class EndToEnd {
  /** The model's config. */
  readonly config: ModelConfig;
  /** Facts of the load. */
  readonly load: LoadFacts;
  readonly #gpu: Gpu;
  readonly #plan: EndToEndPlan;
  readonly #weights: GpuWeights;
  readonly #engine: GpuEngine;
  readonly #tokenizer: TextTokenizer;
  readonly #prompt: number[];
  readonly #trainingIds: number[][];
  #trainer: { trainer: GpuLoraTrainer; batch: PackedBatch } | null = null;

  private constructor(
    gpu: Gpu,
    plan: EndToEndPlan,
    parts: {
      config: ModelConfig;
      weights: GpuWeights;
      engine: GpuEngine;
      tokenizer: TextTokenizer;
      load: LoadFacts;
    },
  ) {
    this.#gpu = gpu;
    this.#plan = plan;
    this.config = parts.config;
    this.#weights = parts.weights;
    this.#engine = parts.engine;
    this.#tokenizer = parts.tokenizer;
    this.load = parts.load;
    const rng = new Rng(7);
    // (P) random ids: the model is random too; BOS first as a real prompt has.
    this.#prompt = [parts.tokenizer.bosId ?? 0];
    while (this.#prompt.length < plan.promptTokens) {
      this.#prompt.push(rng.nextU32() % parts.config.vocabSize);
    }
    // (B, T) random ids, each sequence its own labels.
    const trainRng = new Rng(11);
    this.#trainingIds = Array.from(
      { length: plan.batchSize },
      () => Array.from({ length: plan.seqLen }, () => trainRng.nextU32() % parts.config.vocabSize),
    );
  }

  /** The prompt (P ids) that prefill and decode run, for a peer to run the same tokens. */
  get promptIds(): readonly number[] {
    return this.#prompt;
  }

  /** The training micro-batch's sequences (B, T), inputs and labels alike. */
  get trainingIds(): readonly (readonly number[])[] {
    return this.#trainingIds;
  }

  /** The logits (V) that follow the prompt, from an empty cache. */
  promptLogits(): Promise<Float32Array> {
    return this.#engine.prefill(this.#prompt);
  }

  /** Loads `source` on `gpu` the way `loadModel` does, counting pipelines and weight bytes. */
  static async open(gpu: Gpu, source: ModelSource, plan: EndToEndPlan): Promise<EndToEnd> {
    const checkpoint = await readCheckpoint(source);
    const tokenizer = await readTokenizer(source);
    if (!tokenizer) throw new Error(`Model ${source.name} has no tokenizer.json`);
    await tuneMatmul(gpu);
    const pipelinesBeforeModel = gpu.pipelines.size;
    const weightsBefore = gpu.memory.report().byCategory.weights ?? 0;
    const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
    const engine = new GpuEngine(gpu, checkpoint.config, weights, {
      maxContext: plan.promptTokens + plan.decodeTokens + 1,
    });
    return new EndToEnd(gpu, plan, {
      config: checkpoint.config,
      weights,
      engine,
      tokenizer,
      load: {
        parameters: modelParameterCount(checkpoint.config),
        weightBytes: (gpu.memory.report().byCategory.weights ?? 0) - weightsBefore,
        pipelinesBeforeModel,
        pipelinesAtLoad: gpu.pipelines.size,
      },
    });
  }

  /** Greedy generation of `tokens` tokens from the prompt (1: prefill and the first token). */
  async generate(tokens: number): Promise<Measured> {
    const before = { ...this.#engine.counters };
    const start = performance.now();
    const result = await generateText(this.#engine, this.#tokenizer, this.#prompt, {
      maxTokens: tokens,
      temperature: 0,
      eosIds: [], // a random model may sample EOS: decode them all
    });
    const seconds = (performance.now() - start) / 1000;
    if (result.completionTokens !== tokens) {
      throw new Error(`Generated ${result.completionTokens} tokens, expected ${tokens}`);
    }
    return { seconds, traffic: trafficMinus(this.#engine.counters, before) };
  }

  /** Prefill of the P-token prompt and its first token. */
  prefill(): Promise<Measured> {
    return this.generate(1);
  }

  /** Prefill and 1 + D tokens. */
  decode(): Promise<Measured> {
    return this.generate(1 + this.#plan.decodeTokens);
  }

  /**
   * Builds the LoRA trainer (frees the inference buffers, or the previous trainer, first and
   * restarts the peak); `keepLogits: false` recomputes the LM head in the backward, and
   * `transposedWeightsBytes: 0` has the backward read the weights, not transposed copies.
   */
  startTraining(
    options: Pick<GpuTrainerOptions, "keepLogits" | "transposedWeightsBytes"> = {},
  ): void {
    this.#engine.dispose();
    this.#trainer?.trainer.dispose();
    this.#gpu.memory.resetPeak();
    const { batchSize: B, seqLen: T, rank } = this.#plan;
    const lora = resolveLoraConfig({ r: rank, alpha: 2 * rank, targetModules: "all-linear" });
    const adapter = initLoraWeights(this.config, lora, 1);
    const trainer = new GpuLoraTrainer(this.#gpu, this.config, this.#weights, adapter, {
      batchSize: B,
      seqLen: T,
      optimizer: "adamw",
      ...options,
    });
    const records = this.#trainingIds.map((ids) => ({ inputIds: ids, labels: ids }));
    this.#trainer = { trainer, batch: packBatch(records, 0) };
  }

  /**
   * One optimizer step on one micro-batch (B, T) as `trainLora` makes it: forward, loss,
   * backward and the AdamW update in one submit, the loss and the gradient norm read back.
   */
  async trainStep(step: number): Promise<Measured> {
    if (!this.#trainer) throw new Error("Call startTraining before trainStep");
    const { trainer, batch } = this.#trainer;
    const before = { ...trainer.counters };
    const start = performance.now();
    const loss = trainer.microStep(
      batch,
      { lossScale: 1 / batch.labelTokens, zeroGrads: true, dropoutSeed: step },
      true,
      { lr: 1e-4, step, maxGradNorm: 1, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8 },
    );
    await Promise.all([loss, trainer.lastGradNorm()]);
    return {
      seconds: (performance.now() - start) / 1000,
      traffic: trafficMinus(trainer.counters, before),
    };
  }

  /**
   * The training's forward alone on the same micro-batch (B, T): logits at every position, the
   * cross-entropy loss read back, no backward: the forward a training step pays for, and what a
   * whole-sequence forward (PyTorch's `model(ids)`, scoring a prompt) costs.
   */
  async forwardStep(): Promise<Measured> {
    if (!this.#trainer) throw new Error("Call startTraining before forwardStep");
    const { trainer, batch } = this.#trainer;
    const before = { ...trainer.counters };
    const start = performance.now();
    await trainer.forwardLoss(batch, true);
    return {
      seconds: (performance.now() - start) / 1000,
      traffic: trafficMinus(trainer.counters, before),
    };
  }

  /**
   * The buffers of the training's transposed copies of `weight`, or of every weight (none
   * before `startTraining`).
   */
  transposedBuffers(weight?: GpuTensor): GPUBuffer[] {
    return this.#trainer?.trainer.transposedWeights.buffers(weight) ?? [];
  }

  /** The model's weights on the GPU. */
  get weights(): GpuWeights {
    return this.#weights;
  }

  /** Peak GPU bytes since training started. */
  get peakBytes(): number {
    return this.#gpu.memory.report().peak;
  }

  /** Pipelines on the device now. */
  get pipelines(): number {
    return this.#gpu.pipelines.size;
  }

  /** Frees everything. */
  dispose(): void {
    this.#trainer?.trainer.dispose();
    this.#engine.dispose();
    destroyWeights(this.#weights);
  }
}

/** Everything measured on one model. */
export interface EndToEndResult {
  /** The model's name in the tables. */
  label: string;
  /** What was run. */
  plan: EndToEndPlan;
  /** Facts of the load. */
  load: LoadFacts;
  /** Prefill and the first token. */
  prefill: Measured;
  /** Prefill, the first token and D more. */
  generate: Measured;
  /** The training's forward alone (logits at every position and the loss), where asked. */
  forward?: Measured;
  /** One training step. */
  train: Measured;
  /** Peak GPU bytes while training (weights, trainer buffers, optimizer state). */
  trainPeakBytes: number;
  /** Pipelines on the device, counted cumulatively at each stage. */
  pipelines: {
    /** After the matmul tuning (and anything earlier on the device). */
    tuning: number;
    /** After the model was built. */
    model: number;
    /** After prefill and decode. */
    afterGenerate: number;
    /** After the trainer was built. */
    trainer: number;
    /** After the training steps. */
    afterTrain: number;
  };
}

/**
 * Runs the plan on a model: prefill, decode, then training and, with `forward`, the training's
 * forward alone; `warmup` runs each once first, and `inspect` (if given) sees the loaded model
 * before anything is measured.
 */
export async function measureModel(
  gpu: Gpu,
  label: string,
  source: ModelSource,
  plan: EndToEndPlan,
  options: {
    repeat: number;
    warmup: boolean;
    forward?: boolean;
    inspect?: (e2e: EndToEnd) => Promise<void>;
  },
): Promise<EndToEndResult> {
  const e2e = await EndToEnd.open(gpu, source, plan);
  await options.inspect?.(e2e);
  const best = async (run: (i: number) => Promise<Measured>) => {
    if (options.warmup) await run(0);
    let fastest: Measured | null = null;
    for (let i = 1; i <= options.repeat; i++) {
      const m = await run(i);
      if (!fastest || m.seconds < fastest.seconds) fastest = m;
    }
    return fastest!;
  };
  try {
    const prefill = await best(() => e2e.prefill());
    const generate = await best(() => e2e.decode());
    const afterGenerate = e2e.pipelines;
    e2e.startTraining();
    const trainer = e2e.pipelines;
    const train = await best((i) => e2e.trainStep(i + 1));
    const forward = options.forward ? await best(() => e2e.forwardStep()) : undefined;
    return {
      label,
      plan,
      load: e2e.load,
      prefill,
      generate,
      ...(forward ? { forward } : {}),
      train,
      trainPeakBytes: e2e.peakBytes,
      pipelines: {
        tuning: e2e.load.pipelinesBeforeModel,
        model: e2e.load.pipelinesAtLoad,
        afterGenerate,
        trainer,
        afterTrain: e2e.pipelines,
      },
    };
  } finally {
    e2e.dispose();
  }
}

/** The tiny fixture (D 64, 2 layers, bf16) and what runs on it. */
export const TINY = {
  label: "tiny fixture",
  source: () => memoryModelSource("tiny fixture", createFixtureModel({ preset: "tiny" })),
  plan: { promptTokens: 64, decodeTokens: 64, batchSize: 4, seqLen: 64, rank: 16 },
} as const;

/** The Llama-3.2-1B-shaped fixture (bf16, Llama 3 tokenizer) and what runs on it: a few tokens
 * and one step, since a CPU adapter does a few GFLOP/s. */
export const LLAMA_1B = {
  label: "llama-3.2-1b fixture",
  dir: "./model_cache/fixture-llama-3.2-1b",
  plan: { promptTokens: 64, decodeTokens: 8, batchSize: 1, seqLen: 64, rank: 16 },
} as const;
