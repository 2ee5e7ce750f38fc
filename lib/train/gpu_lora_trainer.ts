/**
 * LoRA training on WebGPU: the forward pass that saves what backward needs, the backward pass
 * (the same kernel calls in reverse), the vocabulary-chunked fused cross-entropy, and the
 * optimizer, recorded into one command encoder and one submit per micro-step. The base model
 * is frozen: only A and B get gradients, but activation gradients flow through every op.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows, D hidden, I intermediate,
 * H heads, KV kv heads, HD head dim, V vocab, VC vocab chunk, R rank, L layers.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { CommandRecorder } from "../gpu/recorder.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "../model/config.ts";
import { loraScaleOf } from "../lora/lora_config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import type { GpuWeights } from "../model/gpu_weights.ts";
import { loraKey, type Projection, PROJECTIONS } from "../model/names.ts";
import { hash2 } from "../util/hash.ts";
import { projectionShape } from "../model/shapes.ts";
import { recordAttention } from "../ops/attention.ts";
import { recordAttentionBackward } from "../ops/attention_backward.ts";
import {
  recordCrossEntropyFinish,
  recordCrossEntropyReset,
  recordCrossEntropyStats,
} from "../ops/cross_entropy.ts";
import { recordDropout } from "../ops/dropout.ts";
import { recordSwiglu } from "../ops/swiglu.ts";
import { recordEmbedding } from "../ops/embedding.ts";
import { recordClipScale, recordSquaredNormAccumulate } from "../ops/grad_norm.ts";
import {
  type FusedCrossEntropyGrad,
  recordLinear,
  recordLinearBackward,
  recordMatmul,
} from "../ops/matmul.ts";
import { type LoraShape, recordLoraBackward, recordLoraDown } from "../ops/lora.ts";
import { recordAdamW, recordSgd } from "../ops/optimizer.ts";
import { recordRmsnorm } from "../ops/rmsnorm.ts";
import { recordRmsnormBackward } from "../ops/rmsnorm_backward.ts";
import { recordRope } from "../ops/rope.ts";
import { recordSwigluBackward } from "../ops/swiglu_backward.ts";
import { ropeTables } from "../model/rope_frequencies.ts";
import { packBatch, type PackedBatch } from "./batch.ts";
import { layerPrefix, planTraining, vocabChunkRows } from "./train_plan.ts";

/** Shapes and switches of a trainer. */
export interface GpuTrainerOptions {
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Longest sequence. */
  seqLen: number;
  /** Recompute each layer in backward. */
  gradCheckpoint?: boolean;
  /** Optimizer kind; decides how much state is allocated. */
  optimizer?: "adamw" | "sgd";
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
  /** Run the backward pass (false for a validation loss: forward and loss only, no dropout). */
  backward?: boolean;
}

/** Optimizer settings for one step. */
export interface OptimizerStepOptions {
  /** Learning rate of this step. */
  lr: number;
  /** 1-based step number (AdamW bias correction). */
  step: number;
  /** Global-norm clip; 0 disables. */
  maxGradNorm: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** AdamW betas. */
  betas: [number, number];
  /** AdamW epsilon. */
  eps: number;
}

interface Acts {
  n1: GPUBuffer;
  rstd1: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  attn: GPUBuffer;
  lse: GPUBuffer;
  xmid: GPUBuffer;
  n2: GPUBuffer;
  rstd2: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  hidden: GPUBuffer;
}

/** Trains one LoRA adapter on a frozen GPU model. */
export class GpuLoraTrainer {
  /** The model's config. */
  readonly config: ModelConfig;
  /** The adapter's hyper-parameters and its keys. */
  readonly lora: LoraWeights["config"];
  readonly #gpu: Gpu;
  readonly #weights: GpuWeights;
  readonly #buffers = new Map<string, GpuTensor>();
  readonly #rec: CommandRecorder;
  readonly #options: Required<GpuTrainerOptions>;
  readonly #scale: number;
  readonly #vocabChunk: number;
  #batch = { B: 0, T: 0 };
  #dropoutSeed = 0;
  #gradNorm: Promise<number> | null = null;
  /** Per slot of loss.sum (training, forward-only): whether the next micro-step starts it over. */
  readonly #lossTotalRead = [true, true];
  #training = true; // dropout applies only to micro-steps with a backward pass

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
    this.#options = { gradCheckpoint: false, optimizer: "adamw", ...options };
    this.#scale = loraScaleOf(adapter.config);
    this.#rec = new CommandRecorder(gpu);
    const sizes = {
      batchSize: options.batchSize,
      seqLen: options.seqLen,
      gradCheckpoint: this.#options.gradCheckpoint,
      maxBindingBytes: gpu.maxBindingBytes,
      optimizerStates: this.#options.optimizer === "adamw" ? 2 : 0,
    };
    this.#vocabChunk = vocabChunkRows(config, sizes);
    for (const spec of planTraining(config, adapter.config, sizes)) {
      this.#buffers.set(spec.name, GpuTensor.create(gpu, { ...spec, label: spec.name }));
    }
    const { cos, sin } = ropeTables(config, options.seqLen);
    this.#t("rope.cos").write(new Uint8Array(cos.buffer));
    this.#t("rope.sin").write(new Uint8Array(sin.buffer));
    this.writeAdapter(adapter);
    this.#buildPipelines();
  }

  /** GPU traffic counters (submits, dispatches, readbacks). */
  get counters(): CommandRecorder["counters"] {
    return this.#rec.counters;
  }

  /** Replaces the adapter's values (initialisation, `--init-adapter`, resume). */
  writeAdapter(adapter: LoraWeights): void {
    for (const [key, values] of adapter.tensors) this.#writeF32(`param:${key}`, values);
  }

  /** Writes optimizer state slot `slot` (AdamW: 0 = m, 1 = v) for every parameter. */
  writeOptimizerState(slot: number, state: Map<string, Float32Array>): void {
    for (const [key, values] of state) this.#writeF32(`opt${slot}:${key}`, values);
  }

  /** Reads the adapter's current values. */
  readAdapter(): Promise<LoraWeights> {
    return this.#readAll("param:").then((tensors) => ({ config: this.lora, tensors }));
  }

  /** Reads the accumulated gradients by PEFT key. */
  readGradients(): Promise<Map<string, Float32Array>> {
    return this.#readAll("grad:");
  }

  /** Reads optimizer state slot `slot` by PEFT key. */
  readOptimizerState(slot: number): Promise<Map<string, Float32Array>> {
    return this.#readAll(`opt${slot}:`);
  }

  /**
   * Records forward, loss and backward of one micro-batch and submits it. With `update` (the
   * last micro-batch of a step) the optimizer update goes into the same encoder and submit.
   *
   * The scaled loss (`lossScale` · summed token losses) is added to a running total on the GPU,
   * one for training micro-steps and one for forward-only ones. With `read` set, the total
   * (including this micro-batch) comes back, and the next micro-step of its kind starts it over;
   * with `update` as well, {@linkcode lastGradNorm} gets that update's gradient norm. Without
   * `read` nothing is read back and null is returned.
   */
  microStep(
    batch: PackedBatch,
    options: MicroStepOptions,
    read: boolean,
    update?: OptimizerStepOptions,
  ): Promise<number> | null {
    this.#recordMicroStep(batch, options);
    if (update) this.#recordOptimizerStep(update); // same encoder: one submit per micro-step
    const slot = (options.backward ?? true) ? 0 : 1;
    const total = read ? this.#rec.read(this.#b("loss.sum"), slot * 4, 4) : null;
    this.#lossTotalRead[slot] = read;
    if (update) this.#gradNorm = read ? this.#readNorm() : null;
    this.#rec.submit();
    return total && total.then((bytes) => new Float32Array(bytes)[0]);
  }

  /** The global gradient norm (before clipping) of the last optimizer update. */
  lastGradNorm(): Promise<number> {
    if (!this.#gradNorm) {
      throw new Error("No gradient norm was read: no update yet, or the last one was not read");
    }
    return this.#gradNorm;
  }

  #readNorm(): Promise<number> {
    return this.#rec.read(this.#b("grad.sumsq"), 0, 4).then((b) =>
      Math.sqrt(new Float32Array(b)[0])
    );
  }

  #recordMicroStep(batch: PackedBatch, options: MicroStepOptions): void {
    const { batchSize: B, seqLen: T } = batch;
    if (B > this.#options.batchSize || T > this.#options.seqLen) {
      throw new RangeError(
        `Batch ${B}×${T} exceeds the trainer's ${this.#options.batchSize}×${this.#options.seqLen}`,
      );
    }
    for (const id of batch.ids) {
      if (id >= this.config.vocabSize) {
        throw new RangeError(`Token id ${id} is outside the vocabulary`);
      }
    }
    this.#batch = { B, T };
    this.#dropoutSeed = options.dropoutSeed;
    const queue = this.#gpu.device.queue;
    queue.writeBuffer(this.#b("ids"), 0, batch.ids as Uint32Array<ArrayBuffer>);
    queue.writeBuffer(this.#b("targets"), 0, batch.targets as Int32Array<ArrayBuffer>);
    const backward = options.backward ?? true;
    this.#training = backward;
    if (options.zeroGrads && backward) {
      for (const [name, t] of this.#buffers) {
        if (name.startsWith("grad:")) this.#rec.clear(t.buffer);
      }
    }
    this.#recordForward();
    this.#recordLoss(backward ? 0 : 1, options.lossScale);
    if (backward) this.#recordBackward(options.lossScale);
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

  #recordOptimizerStep(options: OptimizerStepOptions): void {
    const rec = this.#rec;
    const sumSq = this.#b("grad.sumsq"), gradScale = this.#b("grad.scale");
    rec.clear(sumSq);
    for (const [name, t] of this.#buffers) {
      if (name.startsWith("grad:")) {
        recordSquaredNormAccumulate(rec, { x: t.buffer, n: t.numel, sumSq });
      }
    }
    recordClipScale(rec, { sumSq, gradScale, maxNorm: options.maxGradNorm }); // scale = min(1, max/‖g‖)
    for (const [name, param] of this.#buffers) {
      if (!name.startsWith("param:")) continue;
      const key = name.slice("param:".length);
      const grad = this.#b(`grad:${key}`), n = param.numel;
      if (this.#options.optimizer === "adamw") {
        recordAdamW(rec, {
          param: param.buffer,
          grad,
          m: this.#b(`opt0:${key}`),
          v: this.#b(`opt1:${key}`),
          n,
          lr: options.lr,
          beta1: options.betas[0],
          beta2: options.betas[1],
          eps: options.eps,
          weightDecay: options.weightDecay,
          step: options.step,
          gradScale,
        });
      } else {
        recordSgd(rec, {
          param: param.buffer,
          grad,
          n,
          lr: options.lr,
          weightDecay: options.weightDecay,
          gradScale,
        });
      }
    }
  }

  /** Records a one-token micro-step and an optimizer step, then discards them: builds every pipeline now. */
  #buildPipelines(): void {
    const T = Math.min(2, this.#options.seqLen);
    const batch = packBatch([{ inputIds: new Array(T).fill(0), labels: new Array(T).fill(0) }], 0);
    this.#recordMicroStep(batch, { lossScale: 1, zeroGrads: true, dropoutSeed: 0 });
    this.#recordOptimizerStep({
      lr: 0,
      step: 1,
      maxGradNorm: 1,
      weightDecay: 0,
      betas: [0.9, 0.999],
      eps: 1e-8,
    });
    this.#rec.prepare();
  }

  /** Frees every buffer (the base weights belong to the caller). */
  dispose(): void {
    for (const t of this.#buffers.values()) t.destroy();
    this.#buffers.clear();
    this.#rec.dispose();
  }

  // ---------------------------------------------------------------- forward

  #recordForward(): void {
    const { B, T } = this.#batch, N = B * T;
    recordEmbedding(this.#rec, this.#b("ids"), this.#weights.embed, this.#b("x.0"), N); // x0 = embed[ids]
    for (let l = 0; l < this.config.numLayers; l++) this.#recordLayerForward(l, true);
    recordRmsnorm(this.#rec, {
      x: this.#b(`x.${this.config.numLayers}`),
      weight: this.#weights.finalNorm,
      y: this.#b("final.n"),
      rstd: this.#b("final.rstd"),
      rows: N,
      eps: this.config.rmsNormEps,
    }); // final.n = rmsnorm(x_L)
  }

  /** One decoder layer; `full` also writes the residual leaving it (skipped when recomputing). */
  #recordLayerForward(l: number, full: boolean): void {
    const c = this.config, rec = this.#rec, a = this.#acts(l), w = this.#weights.layers[l];
    const { B, T } = this.#batch, N = B * T, D = c.hiddenSize;
    const x = this.#b(`x.${l}`), eps = c.rmsNormEps;
    const rope = this.#ropeArgs(false);
    recordRmsnorm(rec, { x, weight: w.inputNorm, y: a.n1, rstd: a.rstd1, rows: N, eps }); // n1 = rmsnorm(x)
    this.#project(l, "q_proj", a.n1, a.q); // q = n1·Wqᵀ (+ LoRA)
    this.#project(l, "k_proj", a.n1, a.k); // k = n1·Wkᵀ (+ LoRA)
    this.#project(l, "v_proj", a.n1, a.v); // v = n1·Wvᵀ (+ LoRA)
    recordRope(rec, { ...rope, q: a.q, k: a.k }); // rotate q and k
    recordAttention(rec, {
      q: a.q,
      k: a.k,
      v: a.v,
      out: a.attn,
      lse: a.lse,
      batch: B,
      T,
      S: T,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      positionOffset: 0,
    }); // attn = softmax(q·kᵀ/√HD)·v
    rec.copy(x, 0, a.xmid, 0, N * D * 4); // xmid = x
    this.#project(l, "o_proj", a.attn, a.xmid, true); // xmid += attn·Woᵀ
    recordRmsnorm(rec, {
      x: a.xmid,
      weight: w.postAttentionNorm,
      y: a.n2,
      rstd: a.rstd2,
      rows: N,
      eps,
    }); // n2 = rmsnorm(xmid)
    this.#project(l, "gate_proj", a.n2, a.gate); // gate = n2·Wgᵀ
    this.#project(l, "up_proj", a.n2, a.up); // up = n2·Wuᵀ
    recordSwiglu(rec, a.gate, a.up, a.hidden, N * c.intermediateSize); // hidden = silu(gate)·up
    if (!full) {
      // Backward needs u of an adapted down_proj, not the projection's output.
      if (this.lora.targetModules.includes("down_proj")) {
        this.#recordLoraU(l, "down_proj", a.hidden);
      }
      return;
    }
    const next = this.#b(`x.${l + 1}`);
    rec.copy(a.xmid, 0, next, 0, N * D * 4); // x_{l+1} = xmid
    this.#project(l, "down_proj", a.hidden, next, true); // x_{l+1} += hidden·Wdᵀ
  }

  /** y (+)= x·Wᵀ + s·(dropout(x)·Aᵀ)·Bᵀ, saving u = dropout(x)·Aᵀ for backward. */
  /**
   * y (+)= x·Wᵀ, plus s·u·Bᵀ when `p` is adapted: u = dropout(x)·Aᵀ first (saved for
   * backward), then the base product adds the branch as it stores y.
   */
  #project(l: number, p: Projection, x: GPUBuffer, y: GPUBuffer, accumulate = false): void {
    const lora = this.lora.targetModules.includes(p)
      ? {
        u: this.#recordLoraU(l, p, x),
        b: this.#b(`param:${loraKey(l, p, "B")}`),
        rank: this.lora.r,
        scale: this.#scale,
      }
      : undefined;
    recordLinear(this.#rec, x, y, {
      weight: this.#weights.layers[l].projections[p],
      rows: this.#batch.B * this.#batch.T,
      accumulate,
      lora,
    }); // y (+)= x·Wᵀ (+ s·u·Bᵀ)
  }

  /** Records u = dropout(x)·Aᵀ (N, R) of an adapted projection, saved for backward; returns u. */
  #recordLoraU(l: number, p: Projection, x: GPUBuffer): GPUBuffer {
    const shape = this.#loraShape(p);
    const xd = this.#dropped(l, p, x, shape.rows * shape.inFeatures);
    const u = this.#b(`${layerPrefix(l, this.#options.gradCheckpoint)}.u.${p}`);
    recordLoraDown(this.#rec, shape, xd, this.#b(`param:${loraKey(l, p, "A")}`), u); // u = xd·Aᵀ
    return u;
  }

  /** Rows, features, rank and scale of projection `p`'s adapter in this batch. */
  #loraShape(p: Projection): LoraShape {
    const [outFeatures, inFeatures] = projectionShape(this.config, p);
    return {
      rows: this.#batch.B * this.#batch.T,
      inFeatures,
      outFeatures,
      rank: this.lora.r,
      scale: this.#scale,
    };
  }

  /** The adapter's input: x itself (no dropout, or evaluation), or dropout(x) in the scratch buffer. */
  #dropped(l: number, p: Projection, x: GPUBuffer, n: number): GPUBuffer {
    if (this.lora.dropout === 0 || !this.#training) return x;
    const y = this.#b("lora.scratch");
    recordDropout(this.#rec, { x, y, n, p: this.lora.dropout, seed: this.#maskSeed(l, p) });
    return y;
  }

  /** A distinct dropout seed per (micro-step, layer, projection). */
  #maskSeed(l: number, p: Projection): number {
    return hash2(this.#dropoutSeed, l * PROJECTIONS.length + PROJECTIONS.indexOf(p));
  }

  // ---------------------------------------------------------------- loss and backward

  /**
   * Fused softmax cross-entropy over LM-head chunks: per-row losses into ce.stats, and their
   * sum times `scale` into slot `slot` of the running totals.
   */
  #recordLoss(slot: number, scale: number): void {
    const rec = this.#rec, N = this.#batch.B * this.#batch.T;
    const stats = this.#b("ce.stats"), targets = this.#b("targets");
    recordCrossEntropyReset(rec, { stats, rows: N });
    for (const piece of this.#vocabPieces()) {
      this.#recordLogits(piece); // logits = final.n · E[piece]ᵀ
      recordCrossEntropyStats(rec, this.#lossChunk(piece)); // online max and Σexp per row
    }
    const total = { lossSum: this.#b("loss.sum"), slot, scale, reset: this.#lossTotalRead[slot] };
    recordCrossEntropyFinish(rec, { stats, targets, rows: N, ...total }); // loss = lse − target logit
  }

  /** The backward pass: the forward's calls in reverse, from the loss to the first layer. */
  #recordBackward(lossScale: number): void {
    const c = this.config, rec = this.#rec, N = this.#batch.B * this.#batch.T;
    const logits = this.#b("logits"), dn = this.#b("grad.n"), dx = this.#b("grad.x");
    this.#vocabPieces().forEach((piece, i) => {
      this.#recordLogits(piece, {
        stats: this.#b("ce.stats"),
        targets: this.#b("targets"),
        scale: lossScale,
        vocabOffset: piece.start,
      }); // dlogits = scale·(softmax − onehot), from the chunk's logits recomputed, never stored
      recordMatmul(rec, {
        a: logits,
        b: piece.buffer,
        c: dn,
        M: N,
        N: c.hiddenSize,
        K: piece.count,
        bLayout: "kn",
        bDtype: this.#weights.lmHead.dtype,
        bOffset: piece.offsetRows * c.hiddenSize,
        accumulate: i > 0,
      }); // d final.n (+)= dlogits · E[piece]
    });
    recordRmsnormBackward(rec, {
      x: this.#b(`x.${c.numLayers}`),
      weight: this.#weights.finalNorm,
      rstd: this.#b("final.rstd"),
      dy: dn,
      dx,
      rows: N,
    }); // dx = d rmsnorm_final
    for (let l = c.numLayers - 1; l >= 0; l--) {
      if (this.#options.gradCheckpoint) this.#recordLayerForward(l, false); // recompute layer l
      this.#recordLayerBackward(l);
    }
  }

  /** Backward of one layer: the forward's calls in reverse. dx holds d x_{l+1} on entry, d x_l on exit. */
  #recordLayerBackward(l: number): void {
    const c = this.config, rec = this.#rec, a = this.#acts(l), w = this.#weights.layers[l];
    const { B, T } = this.#batch, N = B * T;
    const g = (name: string) => this.#b(`grad.${name}`);
    const dx = g("x"), dn = g("n");
    // MLP block, reversed: x_{l+1} = xmid + down(silu(gate)·up)
    this.#projectBackward(l, "down_proj", a.hidden, dx, g("hidden"), false); // d hidden = dx·Wd (+ LoRA)
    recordSwigluBackward(
      rec,
      a.gate,
      a.up,
      g("hidden"),
      g("gate"),
      g("up"),
      N * c.intermediateSize,
    ); // d gate, d up
    this.#projectBackward(l, "gate_proj", a.n2, g("gate"), dn, false); // d n2 = d gate·Wg
    this.#projectBackward(l, "up_proj", a.n2, g("up"), dn, true); // d n2 += d up·Wu
    recordRmsnormBackward(rec, {
      x: a.xmid,
      weight: w.postAttentionNorm,
      rstd: a.rstd2,
      dy: dn,
      dx,
      rows: N,
      accumulate: true,
    }); // d xmid = dx + d rmsnorm
    // Attention block, reversed: xmid = x_l + o(attention(rope(q), rope(k), v))
    this.#projectBackward(l, "o_proj", a.attn, dx, g("attn"), false); // d attn = d xmid·Wo
    recordAttentionBackward(rec, {
      q: a.q,
      k: a.k,
      v: a.v,
      out: a.attn,
      lse: a.lse,
      dOut: g("attn"),
      dq: g("q"),
      dk: g("k"),
      dv: g("v"),
      delta: g("delta"),
      batch: B,
      T,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
    }); // d q, d k, d v
    const rope = this.#ropeArgs(true);
    recordRope(rec, { ...rope, q: g("q"), k: g("k") }); // un-rotate d q and d k
    this.#projectBackward(l, "q_proj", a.n1, g("q"), dn, false); // d n1 = d q·Wq
    this.#projectBackward(l, "k_proj", a.n1, g("k"), dn, true); // d n1 += d k·Wk
    this.#projectBackward(l, "v_proj", a.n1, g("v"), dn, true); // d n1 += d v·Wv
    recordRmsnormBackward(rec, {
      x: this.#b(`x.${l}`),
      weight: w.inputNorm,
      rstd: a.rstd1,
      dy: dn,
      dx,
      rows: N,
      accumulate: true,
    }); // d x_l = d xmid + d rmsnorm
  }

  /**
   * Backward of y = x·Wᵀ + s·B·A·dropout(x): dx (+)= dy·W, and for an adapted projection
   * dB += s·dyᵀ·u, dA += (s·dy·B)ᵀ·dropout(x), dx += dropout(s·dy·B·A).
   */
  #projectBackward(
    l: number,
    p: Projection,
    x: GPUBuffer,
    dy: GPUBuffer,
    dx: GPUBuffer,
    accumulate: boolean,
  ): void {
    const rec = this.#rec, rows = this.#batch.B * this.#batch.T;
    recordLinearBackward(rec, dy, dx, {
      weight: this.#weights.layers[l].projections[p],
      rows,
      accumulate,
    }); // dx (+)= dy·W
    if (!this.lora.targetModules.includes(p)) return;
    const shape = this.#loraShape(p), key = (m: "A" | "B") => loraKey(l, p, m);
    const dropout = this.lora.dropout > 0, scratch = this.#b("lora.scratch");
    recordLoraBackward(rec, shape, {
      dy,
      x: this.#dropped(l, p, x, rows * shape.inFeatures),
      u: this.#b(`${layerPrefix(l, this.#options.gradCheckpoint)}.u.${p}`),
      a: this.#b(`param:${key("A")}`),
      b: this.#b(`param:${key("B")}`),
      dA: this.#b(`grad:${key("A")}`),
      dB: this.#b(`grad:${key("B")}`),
      du: this.#b("grad.u"),
      dx: dropout ? scratch : dx,
      accumulateDx: !dropout,
    }); // dB, dA; dx += du·A (or into the scratch, to be masked)
    if (!dropout) return;
    recordDropout(rec, {
      x: scratch,
      y: dx,
      n: rows * shape.inFeatures,
      p: this.lora.dropout,
      seed: this.#maskSeed(l, p),
      accumulate: true,
    }); // dx += dropout(du·A)
  }

  // ---------------------------------------------------------------- helpers

  /** Slices of the LM head no larger than the logits chunk: (buffer, first row in it, global start, count). */
  #vocabPieces(): { buffer: GPUBuffer; offsetRows: number; start: number; count: number }[] {
    const pieces = [];
    for (const chunk of this.#weights.lmHead.chunks) {
      for (let r = 0; r < chunk.rows; r += this.#vocabChunk) {
        pieces.push({
          buffer: chunk.buffer,
          offsetRows: r,
          start: chunk.rowStart + r,
          count: Math.min(this.#vocabChunk, chunk.rows - r),
        });
      }
    }
    return pieces;
  }

  /** The cross-entropy arguments of one vocabulary piece: its logits chunk and its columns. */
  #lossChunk(piece: { start: number; count: number }) {
    return {
      logits: this.#b("logits"),
      ldLogits: piece.count,
      stats: this.#b("ce.stats"),
      targets: this.#b("targets"),
      rows: this.#batch.B * this.#batch.T,
      vocabOffset: piece.start,
      vocabCount: piece.count,
    };
  }

  /** logits = final.n · E[piece]ᵀ, or with `grad` their cross-entropy gradient. */
  #recordLogits(
    piece: { buffer: GPUBuffer; offsetRows: number; count: number },
    grad?: FusedCrossEntropyGrad,
  ): void {
    const D = this.config.hiddenSize, N = this.#batch.B * this.#batch.T;
    recordMatmul(this.#rec, {
      a: this.#b("final.n"),
      b: piece.buffer,
      c: this.#b("logits"),
      M: N,
      N: piece.count,
      K: D,
      bLayout: "nk",
      bDtype: this.#weights.lmHead.dtype,
      bOffset: piece.offsetRows * D,
      crossEntropyGrad: grad,
    });
  }

  /** RoPE over the batch's rows (positions restart at 0 in each sequence); inverse in backward. */
  #ropeArgs(inverse: boolean) {
    const { B, T } = this.#batch;
    return {
      cos: this.#b("rope.cos"),
      sin: this.#b("rope.sin"),
      rows: B * T,
      T,
      qHeads: this.config.numHeads,
      kHeads: this.config.numKvHeads,
      headDim: this.config.headDim,
      positionOffset: 0,
      inverse,
    };
  }

  #acts(l: number): Acts {
    const p = layerPrefix(l, this.#options.gradCheckpoint);
    const names = [
      "n1",
      "rstd1",
      "q",
      "k",
      "v",
      "attn",
      "lse",
      "xmid",
      "n2",
      "rstd2",
      "gate",
      "up",
      "hidden",
    ] as const;
    return Object.fromEntries(names.map((n) => [n, this.#b(`${p}.${n}`)])) as unknown as Acts;
  }

  #t(name: string): GpuTensor {
    const t = this.#buffers.get(name);
    if (!t) throw new Error(`No planned training buffer ${name}`);
    return t;
  }

  #b(name: string): GPUBuffer {
    return this.#t(name).buffer;
  }

  #writeF32(name: string, values: Float32Array): void {
    const t = this.#t(name);
    if (values.length !== t.numel) {
      throw new RangeError(`${name} needs ${t.numel} values, got ${values.length}`);
    }
    t.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  async #readAll(prefix: string): Promise<Map<string, Float32Array>> {
    const reads: [string, Promise<ArrayBuffer>][] = [];
    for (const [name, t] of this.#buffers) {
      if (name.startsWith(prefix)) {
        reads.push([name.slice(prefix.length), this.#rec.read(t.buffer, 0, t.numel * 4)]);
      }
    }
    this.#rec.submit();
    const out = new Map<string, Float32Array>();
    for (const [key, read] of reads) out.set(key, new Float32Array(await read));
    return out;
  }
}
