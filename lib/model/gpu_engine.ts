/**
 * Llama inference on WebGPU: prefill and KV-cache decode, every number computed by the WGSL
 * kernels. A forward pass (one chunk of tokens) is recorded into one encoder and one submit;
 * only the logits the caller needs are read back.
 *
 * Dimensions: T tokens in the chunk, S context slots, D hidden, I intermediate, H heads,
 * KV kv heads, HD head dim, V vocab, R LoRA rank, L layers.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { TokenSampler } from "../generate/generate.ts";
import { CommandRecorder } from "../gpu/recorder.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "./config.ts";
import {
  type EngineAdapter,
  type EngineOptions,
  type InferenceEngine,
  resolveKvCacheDtype,
  resolveMaxContext,
} from "./engine.ts";
import { ropeTables } from "./rope_frequencies.ts";
import { recordAttention } from "../ops/attention.ts";
import { recordEmbedding } from "../ops/embedding.ts";
import { type FusedLoad, recordLinear } from "../ops/matmul.ts";
import { SMALL_M } from "../ops/matmul_variants.ts";
import { recordHeadNorms, recordRmsnorm } from "../ops/rmsnorm.ts";
import { recordSwiglu } from "../ops/swiglu.ts";
import { recordAdaptedLinear } from "../ops/lora.ts";
import { recordBiasAdd } from "../ops/bias_add.ts";
import { recordRopeKvAppend } from "../ops/rope.ts";
import {
  type GpuSamplingParams as GpuSampling,
  promptSeenCounts,
  recordSample,
} from "../ops/sample.ts";
import type { GpuWeights } from "./gpu_weights.ts";
import { GpuLoraAdapter } from "../lora/gpu_adapter.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import type { Projection } from "./names.ts";
import type { ProjectionAdapter } from "../lora/projection_adapter.ts";
import { type Allocated, allocatePlan, destroyAllocated } from "../gpu/buffer_plan.ts";
import {
  type InferencePlan,
  type InferenceSizes,
  inferenceSizes,
  MAX_CHAINED_STEPS,
  planInference,
} from "./inference_plan.ts";
import { projectionFeatures as features } from "./shapes.ts";

/** Sizes of the inference buffers. */
export interface GpuEngineOptions extends EngineOptions {
  /** Tokens per forward chunk; longer prompts are prefilled in chunks. Default 256. */
  chunkTokens?: number;
}

/** What the GPU engine applies: an adapter's matrices on the GPU, which it can free. */
export type GpuEngineAdapter = ProjectionAdapter & EngineAdapter;

/** A model on the GPU that produces logits for prefill and decode steps. */
export class GpuEngine implements InferenceEngine<GpuEngineAdapter>, TokenSampler {
  /** "webgpu". */
  readonly backend = "webgpu";
  /** The model's configuration. */
  readonly config: ModelConfig;
  /** KV-cache slots. */
  readonly maxContext: number;
  readonly #gpu: Gpu;
  readonly #weights: GpuWeights;
  readonly #sizes: Required<InferenceSizes>; // chunk, logit rows, KV-cache dtype, adapter rank
  #buffers: Allocated<InferencePlan> | null = null; // null once released, until the next call
  readonly #rec: CommandRecorder;
  #adapter: ProjectionAdapter | null = null;
  #position = 0; // tokens held in the KV cache

  /** Allocates the planned buffers for `weights` and builds every pipeline. */
  constructor(
    gpu: Gpu,
    config: ModelConfig,
    weights: GpuWeights,
    options: GpuEngineOptions = {},
  ) {
    this.#gpu = gpu;
    this.config = config;
    this.#weights = weights;
    this.maxContext = resolveMaxContext(config, options.maxContext);
    const kvCacheDtype = resolveKvCacheDtype(options.kvCacheDtype);
    if (kvCacheDtype === "f16" && config.headDim % 4 !== 0) {
      throw new RangeError(
        `An f16 KV cache needs a head dim that is a multiple of 4, got ${config.headDim}`,
      );
    }
    this.#sizes = {
      ...inferenceSizes(config, {
        ...options,
        maxContext: this.maxContext,
        maxBindingBytes: gpu.maxBindingBytes,
      }),
      kvCacheDtype,
      loraRank: 0, // grows with the adapters set
    };
    this.#rec = new CommandRecorder(gpu);
    this.#buildPipelines();
  }

  /** GPU traffic counters of this model (submits, dispatches, readbacks). */
  get counters(): CommandRecorder["counters"] {
    return this.#rec.counters;
  }

  /** Uploads `weights` as an adapter this engine applies (f32 A and B on the GPU). */
  createAdapter(weights: LoraWeights): GpuLoraAdapter {
    return new GpuLoraAdapter(this.#gpu, this.config, weights);
  }

  /** Applies `adapter` unmerged to later forwards, or removes it with null. No reload needed. */
  setAdapter(adapter: GpuEngineAdapter | null): void {
    this.#adapter = adapter;
    if (!adapter || adapter.rank <= this.#sizes.loraRank) return;
    this.#sizes.loraRank = adapter.rank; // the plan's A·x scratch grows to this rank
    if (this.#buffers) {
      this.#buffers.loraU?.destroy();
      const { loraU } = planInference(this.config, this.#sizes);
      this.#buffers.loraU = GpuTensor.create(this.#gpu, { ...loraU!, label: loraU!.name });
    }
    this.#buildPipelines(); // the adapter's matmuls
  }

  /** Clears the KV cache, runs the prompt, and returns the logits (V) of its last token. */
  async prefill(ids: number[], signal?: AbortSignal): Promise<Float32Array> {
    this.#ensureBuffers();
    const logits = this.#runPrompt(ids, signal, (row) => {
      this.#recordLogits(row, 1);
      return this.#rec.read(this.#t.logits.buffer, 0, this.config.vocabSize * 4);
    });
    return new Float32Array(await logits);
  }

  /** Appends one token to the cache and returns the logits (V) that follow it. */
  async decode(id: number, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    this.#ensureBuffers();
    this.#recordChunk([id]);
    this.#recordLogits(0, 1);
    const logits = this.#rec.read(this.#t.logits.buffer, 0, this.config.vocabSize * 4);
    this.#rec.submit();
    this.#position += 1;
    return new Float32Array(await logits);
  }

  /**
   * Clears the KV cache, runs the prompt and samples the first token on the GPU. The token
   * stays on the GPU as the input of {@linkcode decodeSample}; only its id is read back.
   */
  async prefillSample(ids: number[], sampling: GpuSampling, signal?: AbortSignal): Promise<number> {
    const seen = promptSeenCounts(ids, this.config.vocabSize); // (V) the prompt's ids, for the penalties
    this.#ensureBuffers();
    this.#gpu.device.queue.writeBuffer(this.#t.seen.buffer, 0, seen);
    const token = this.#runPrompt(ids, signal, (row) => {
      this.#recordLogits(row, 1);
      this.#recordSample(sampling, 0, 0);
      return this.#rec.read(this.#t.sampled.buffer, 0, 4);
    });
    return new Uint32Array(await token)[0];
  }

  /**
   * Appends the last sampled token and chains `count` decode steps in one submit, each
   * sampling on the GPU from the previous one's logits; reads the `count` ids back once.
   * `firstStep` numbers the first of them for the seeded draws.
   */
  async decodeSample(
    count: number,
    sampling: GpuSampling,
    firstStep: number,
    signal?: AbortSignal,
  ): Promise<number[]> {
    signal?.throwIfAborted();
    if (!Number.isInteger(count) || count < 1 || count > MAX_CHAINED_STEPS) {
      throw new RangeError(`Chained decode steps ${count} must be in [1, ${MAX_CHAINED_STEPS}]`);
    }
    this.#ensureBuffers();
    const start = this.#position;
    try {
      for (let i = 0; i < count; i++) {
        this.#recordChunk(null); // the id the previous sample wrote
        this.#recordLogits(0, 1);
        this.#recordSample(sampling, i, firstStep + i);
        this.#position += 1;
      }
    } catch (e) {
      this.#position = start;
      this.#rec.prepare(); // drop the partly recorded chain
      throw e;
    }
    const tokens = this.#rec.read(this.#t.sampled.buffer, 0, count * 4);
    this.#rec.submit();
    return [...new Uint32Array(await tokens)];
  }

  /** Records the prompt chunk by chunk (a submit each) from an empty cache; `onLast` records
   * what follows the last chunk's final row and returns its readback. */
  #runPrompt(
    ids: number[],
    signal: AbortSignal | undefined,
    onLast: (row: number) => Promise<ArrayBuffer>,
  ): Promise<ArrayBuffer> {
    if (ids.length === 0) throw new RangeError("Prompt is empty: at least one token is needed");
    this.#position = 0;
    let last: Promise<ArrayBuffer> | null = null;
    for (let start = 0; start < ids.length; start += this.#sizes.chunkTokens) {
      signal?.throwIfAborted();
      const chunk = ids.slice(start, start + this.#sizes.chunkTokens);
      this.#recordChunk(chunk);
      if (start + chunk.length === ids.length) last = onLast(chunk.length - 1);
      this.#rec.submit();
      this.#position += chunk.length;
    }
    return last!;
  }

  /** Runs the whole sequence from an empty cache and returns every position's logits (T, V). */
  async logits(ids: number[]): Promise<Float32Array> {
    const V = this.config.vocabSize;
    const out = new Float32Array(ids.length * V);
    this.#ensureBuffers();
    this.#position = 0;
    for (let start = 0; start < ids.length; start += this.#sizes.chunkTokens) {
      const chunk = ids.slice(start, start + this.#sizes.chunkTokens);
      this.#recordChunk(chunk);
      const reads: Promise<ArrayBuffer>[] = [];
      for (let row = 0; row < chunk.length; row += this.#sizes.logitRows) {
        const rows = Math.min(this.#sizes.logitRows, chunk.length - row);
        this.#recordLogits(row, rows);
        reads.push(this.#rec.read(this.#t.logits.buffer, 0, rows * V * 4));
        this.#rec.submit(); // the logits buffer is reused by the next group
      }
      let row = start;
      for (const read of reads) {
        const values = new Float32Array(await read);
        out.set(values, row * V);
        row += values.length / V;
      }
      this.#position += chunk.length;
    }
    return out;
  }

  /**
   * Frees the planned buffers (KV cache, activations, adapter scratch) until the next
   * generation call allocates them again (training calls it to make room); the cache's
   * contents and the adapter selection are lost.
   */
  releaseBuffers(): void {
    if (this.#buffers) destroyAllocated(this.#buffers);
    this.#buffers = null;
    this.#sizes.loraRank = 0;
    this.#adapter = null;
    this.#position = 0;
  }

  /** Frees the planned buffers and the recorder (not the weights). */
  dispose(): void {
    this.releaseBuffers();
    this.#rec.dispose();
  }

  /**
   * Records a decode step, and a prefill chunk longer than one (its norm and SwiGLU are not
   * fused), without submitting them, so every pipeline they use is built now.
   */
  #buildPipelines(): void {
    this.#ensureBuffers();
    const position = this.#position;
    this.#position = 0;
    this.#recordChunk([0]);
    if (this.#sizes.chunkTokens > SMALL_M) {
      this.#recordChunk(new Array(SMALL_M + 1).fill(0)); // a prefill chunk's unfused norm and SwiGLU
    }
    this.#recordLogits(0, 1);
    this.#recordSample({ temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 }, 0, 0);
    this.#rec.prepare();
    this.#position = position;
  }

  /**
   * Records the decoder stack for `ids` at positions position..position+T-1; with null, for
   * one token whose id a sampler already wrote to the ids buffer on the GPU.
   */
  #recordChunk(ids: number[] | null): void {
    const T = ids?.length ?? 1, pos = this.#position;
    const c = this.config, w = this.#weights, rec = this.#rec;
    if (pos + T > this.maxContext) {
      throw new RangeError(`Context of ${pos + T} tokens exceeds maxContext ${this.maxContext}`);
    }
    for (const id of ids ?? []) {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new RangeError(`Token id ${id} is outside the vocabulary of ${c.vocabSize}`);
      }
    }
    if (ids) this.#gpu.device.queue.writeBuffer(this.#t.ids.buffer, 0, new Uint32Array(ids));
    const t = this.#t, b = (name: keyof typeof t) => (t[name] as GpuTensor).buffer;
    const x = b("x"), q = b("q"), attn = b("attn");
    const rope = {
      cos: t.rope.cos.buffer,
      sin: t.rope.sin.buffer,
      T,
      qHeads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      positionOffset: pos,
      cacheDtype: this.#sizes.kvCacheDtype,
    };
    const kNew = b("kNew"), vNew = b("vNew");

    recordEmbedding(rec, b("ids"), w.embed, x, T); // x = embed[ids]
    for (let l = 0; l < c.numLayers; l++) {
      const layer = w.layers[l], k = t.kvCache[l].k.buffer, v = t.kvCache[l].v.buffer;
      const n1 = this.#normed(x, layer.inputNorm, T); // n = rmsnorm(x), fused or stored
      const qk = t.qkNorm, norms = layer.qkNorm; // Qwen3: q and k normed per head before RoPE
      this.#project(l, "q_proj", n1.input, qk ? qk.qRaw.buffer : q, T, n1); // q = n·Wqᵀ (+ b)
      this.#project(l, "k_proj", n1.input, qk ? qk.kRaw.buffer : kNew, T, n1); // k' = n·Wkᵀ (+ b)
      this.#project(l, "v_proj", n1.input, vNew, T, n1); // v' = n·Wvᵀ (+ b)
      if (qk && norms) {
        recordHeadNorms(rec, {
          q: { raw: qk.qRaw.buffer, normed: q },
          k: { raw: qk.kRaw.buffer, normed: kNew },
          rstd: { q: qk.rstd.buffer, k: qk.rstd.buffer }, // not kept: inference has no backward
          weights: norms,
          tokens: T,
          heads: c.numHeads,
          kvHeads: c.numKvHeads,
          eps: c.rmsNormEps,
        }); // q, k' = rmsnorm of each head
      }
      recordRopeKvAppend(rec, { ...rope, q, kNew, vNew, kCache: k, vCache: v }); // rotate q; k[pos..] = rope(k'), v[pos..] = v
      recordAttention(rec, {
        q,
        k,
        v,
        out: attn,
        lse: b("lse"),
        batch: 1,
        T,
        S: this.maxContext,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        positionOffset: pos,
        kvDtype: this.#sizes.kvCacheDtype,
        scratch: b("attnPartials"),
      }); // attn = softmax(q·kᵀ/√HD)·v (split across chunks of keys in long decode)
      this.#project(l, "o_proj", attn, x, T, { accumulate: true }); // x += attn·Woᵀ
      const n2 = this.#normed(x, layer.postAttentionNorm, T); // n = rmsnorm(x), fused or stored
      this.#project(l, "gate_proj", n2.input, b("gate"), T, n2); // gate = n·Wgᵀ
      this.#project(l, "up_proj", n2.input, b("up"), T, n2); // up = n·Wuᵀ
      const h = this.#gated(T); // h = silu(gate)·up, fused or stored
      this.#project(l, "down_proj", h.input, x, T, { ...h, accumulate: true }); // x += h·Wdᵀ
    }
  }

  /**
   * Whether this chunk's RMSNorms and SwiGLU are fused into the products' loads: only for a
   * decode-sized chunk (T ≤ SMALL_M rows, memory-bound products), and only on a device whose
   * measurement at load found that faster (`gpu.kernels.matmul.fuseLoads`). A longer chunk's
   * products are compute-bound, and a fused load would redo the norm's arithmetic for every
   * block of columns.
   */
  #fusesLoads(T: number): boolean {
    return T <= SMALL_M && this.#gpu.kernels.matmul.fuseLoads;
  }

  /**
   * What the projections reading rmsnorm(x) read: x itself with the norm fused into their
   * loads (see {@linkcode #fusesLoads}), or the norm buffer, filled here once.
   */
  #normed(x: GPUBuffer, weight: GpuTensor, T: number): { input: GPUBuffer; load: FusedLoad } {
    const eps = this.config.rmsNormEps;
    if (this.#fusesLoads(T)) return { input: x, load: { norm: { weight, eps } } };
    const y = this.#t.norm.buffer;
    recordRmsnorm(this.#rec, { x, weight, y, rstd: this.#t.rstd.buffer, rows: T, eps });
    return { input: y, load: {} };
  }

  /** What the down projection reads: silu(gate)·up fused into its load, or stored here once. */
  #gated(T: number): { input: GPUBuffer; load: FusedLoad } {
    const t = this.#t, b = (name: "gate" | "up" | "hidden") => t[name].buffer;
    if (this.#fusesLoads(T)) return { input: b("gate"), load: { swigluUp: b("up") } };
    recordSwiglu(this.#rec, b("gate"), b("up"), b("hidden"), T * this.config.intermediateSize);
    return { input: b("hidden"), load: {} };
  }

  /**
   * Records the final norm and LM head for `rows` rows of x from `row` into the logits buffer.
   * The norm is always fused here: generation projects one row, and only `logits` more.
   */
  #recordLogits(row: number, rows: number): void {
    const w = this.#weights;
    recordLinear(this.#rec, this.#t.x.buffer, this.#t.logits.buffer, {
      weight: w.lmHead,
      rows,
      xRowOffset: row,
      norm: { weight: w.finalNorm, eps: this.config.rmsNormEps },
    }); // logits = rmsnorm(x[row..row+rows])·Eᵀ
  }

  /** Records sampling from logits row 0 into sampled[index] and the ids buffer. */
  #recordSample(sampling: GpuSampling, index: number, step: number): void {
    recordSample(this.#rec, {
      ...sampling,
      logits: this.#t.logits.buffer,
      seen: this.#t.seen.buffer,
      tokens: this.#t.sampled.buffer,
      outIndex: index,
      ids: this.#t.ids.buffer,
      vocabSize: this.config.vocabSize,
      step,
    });
  }

  /**
   * y (+)= n·Wᵀ (+ b), plus scale·(n·Aᵀ)·Bᵀ when the projection is adapted, where n is x, or what
   * `load` makes of it (rmsnorm(x), or silu(x)·up). That is fused into each product's load of
   * x, and the LoRA branch into the base product's store: u = n·Aᵀ first, then
   * y = n·Wᵀ + s·u·Bᵀ.
   */
  #project(
    layer: number,
    projection: Projection,
    x: GPUBuffer,
    y: GPUBuffer,
    rows: number,
    options: { load?: FusedLoad; accumulate?: boolean },
  ): void {
    const weight = this.#weights.layers[layer].projections[projection];
    const adapter = this.#adapter, pair = adapter?.pair(layer, projection), u = this.#t.loraU;
    const { load = {}, accumulate } = options;
    const lora = adapter && pair && u
      ? {
        ...pair,
        u: u.buffer, // (T, R)
        shape: {
          rows,
          ...features(this.config, projection),
          rank: adapter.rank,
          scale: adapter.scale,
        },
      }
      : undefined;
    recordAdaptedLinear(this.#rec, x, y, { weight, rows, accumulate, ...load, lora });
    const bias = this.#weights.layers[layer].biases[projection];
    if (bias) recordBiasAdd(this.#rec, { bias: bias.buffer, y, rows, n: bias.shape[0] }); // y += b
  }

  /** Allocates the planned buffers and fills the RoPE tables, unless they are allocated. */
  #ensureBuffers(): void {
    if (this.#buffers) return;
    this.#buffers = allocatePlan(this.#gpu, planInference(this.config, this.#sizes));
    const { cos, sin } = ropeTables(this.config, this.maxContext);
    this.#buffers.rope.cos.write(new Uint8Array(cos.buffer));
    this.#buffers.rope.sin.write(new Uint8Array(sin.buffer));
  }

  /** The planned buffers; every public call allocates them first (see releaseBuffers). */
  get #t(): Allocated<InferencePlan> {
    if (!this.#buffers) throw new Error("GPU engine buffers are released");
    return this.#buffers;
  }
}
