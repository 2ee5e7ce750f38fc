/**
 * The CPU backend: the plain-TypeScript reference ops with a KV cache, for runtimes without a
 * WebGPU adapter (edge runtimes, CI without lavapipe). Slow but exact: f32 storage, f64 sums;
 * with an f16 KV cache, the cached keys and values are rounded to f16 as the GPU stores them.
 *
 * Dimensions: T tokens in a step, S cached positions, D hidden, I intermediate, H heads,
 * KV kv heads, HD head dim, V vocab.
 *
 * @module
 */
import type { ModelConfig } from "./config.ts";
import {
  type EngineAdapter,
  type EngineOptions,
  type InferenceEngine,
  resolveKvCacheDtype,
  resolveMaxContext,
} from "./engine.ts";
import { attentionForward } from "../reference/attention.ts";
import { embeddingForward } from "../reference/embedding.ts";
import { linearForward } from "../reference/linear.ts";
import {
  type ReferenceLora,
  type ReferenceModel,
  type ReferenceWeights,
  resolveReferenceModel,
} from "../reference/model_weights.ts";
import { adaptedLinearForward } from "../reference/adapted_linear.ts";
import { loraScaleOf } from "../lora/lora_config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import type { KvCacheDtype } from "../ops/rope.ts";
import { residualAdd } from "../reference/residual.ts";
import { rmsnormForward } from "../reference/rmsnorm.ts";
import { ropeForward } from "../reference/rope.ts";
import { swigluForward } from "../reference/swiglu.ts";
import { ropeTables } from "./rope_frequencies.ts";
import type { Projection } from "./names.ts";

/** An adapter in the reference's form: its scale and its PEFT-keyed matrices, on the host. */
export interface CpuAdapter extends ReferenceLora, EngineAdapter {}

/** A Llama evaluated on the CPU with a KV cache. */
export class CpuEngine implements InferenceEngine<CpuAdapter> {
  /** "cpu". */
  readonly backend = "cpu";
  /** The model's configuration. */
  readonly config: ModelConfig;
  /** KV-cache slots. */
  readonly maxContext: number;
  readonly #weights: ReferenceWeights;
  #model: ReferenceModel<Float32Array>;
  readonly #tables: { cos: Float32Array; sin: Float32Array };
  readonly #kvCacheDtype: KvCacheDtype;
  readonly #k: Float32Array[]; // per layer (S, KV·HD), values rounded to the cache dtype
  readonly #v: Float32Array[]; // per layer (S, KV·HD), values rounded to the cache dtype
  #position = 0;

  /** Resolves and checks the weights; the options size the KV cache and pick its dtype. */
  constructor(config: ModelConfig, weights: ReferenceWeights, options: EngineOptions = {}) {
    this.config = config;
    this.#weights = weights;
    this.maxContext = resolveMaxContext(config, options.maxContext);
    this.#kvCacheDtype = resolveKvCacheDtype(options.kvCacheDtype);
    this.#model = resolveReferenceModel(config, weights);
    this.#tables = ropeTables(config, this.maxContext);
    const kvRow = config.numKvHeads * config.headDim;
    this.#k = Array.from(
      { length: config.numLayers },
      () => new Float32Array(this.maxContext * kvRow),
    );
    this.#v = Array.from(
      { length: config.numLayers },
      () => new Float32Array(this.maxContext * kvRow),
    );
  }

  /** The adapter as the reference applies it: the same host arrays, and its scale. */
  createAdapter(weights: LoraWeights): CpuAdapter {
    return { scale: loraScaleOf(weights.config), tensors: weights.tensors, destroy() {} };
  }

  /** Applies an adapter unmerged (or removes it with null). */
  setAdapter(lora: CpuAdapter | null): void {
    this.#model = resolveReferenceModel(this.config, this.#weights, lora ?? undefined);
  }

  /** Clears the cache, runs the prompt and returns the last position's logits (V). */
  prefill(ids: number[], signal?: AbortSignal): Promise<Float32Array> {
    if (ids.length === 0) throw new RangeError("Prompt is empty: at least one token is needed");
    signal?.throwIfAborted();
    this.#position = 0;
    const logits = this.#step(ids, false);
    return Promise.resolve(logits);
  }

  /** Appends one token and returns the logits (V) that follow it. */
  decode(id: number, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    return Promise.resolve(this.#step([id], false));
  }

  /** Every position's logits (T, V) from an empty cache. */
  logits(ids: number[]): Promise<Float32Array> {
    this.#position = 0;
    return Promise.resolve(this.#step(ids, true));
  }

  /** Nothing to free: the KV cache is host memory, kept for the next call. */
  releaseBuffers(): void {}

  /** Nothing to free on the CPU; the garbage collector takes the cache. */
  dispose(): void {}

  #step(ids: number[], allRows: boolean): Float32Array {
    const c = this.config, m = this.#model, T = ids.length, pos = this.#position;
    const { hiddenSize: D, numHeads: H, numKvHeads: KV, headDim: HD, rmsNormEps: eps } = c;
    if (pos + T > this.maxContext) {
      throw new RangeError(`Context of ${pos + T} tokens exceeds maxContext ${this.maxContext}`);
    }
    const { cos, sin } = this.#tables;
    const kvRow = KV * HD;
    const x = embeddingForward(m.embed, ids, c.vocabSize, D); // (T, D)
    m.layers.forEach((layer, l) => {
      const p = (name: Projection, input: Float32Array) =>
        this.#project(layer.proj[name], input, T);
      const n1 = rmsnormForward(x, layer.attnNorm, T, D, eps).y; // (T, D)
      let q = p("q_proj", n1), k = p("k_proj", n1); // (T, H·HD), (T, KV·HD)
      const v = p("v_proj", n1); // (T, KV·HD)
      if (layer.qNorm && layer.kNorm) { // Qwen3: each head of q and k normed before RoPE
        q = rmsnormForward(q, layer.qNorm, T * H, HD, eps).y;
        k = rmsnormForward(k, layer.kNorm, T * KV, HD, eps).y;
      }
      ropeForward(q, cos, sin, T, H, HD, pos);
      ropeForward(k, cos, sin, T, KV, HD, pos);
      if (this.#kvCacheDtype === "f16") roundToF16(k, v); // as the GPU's f16 cache stores them
      this.#k[l].set(k, pos * kvRow);
      this.#v[l].set(v, pos * kvRow);
      const keys = this.#k[l].subarray(0, (pos + T) * kvRow),
        values = this.#v[l].subarray(0, (pos + T) * kvRow);
      const attn =
        attentionForward(q, keys, values, { t: T, h: H, kv: KV, hd: HD, offset: pos }).out;
      residualAdd(x, p("o_proj", attn)); // x += o(attn)
      const n2 = rmsnormForward(x, layer.mlpNorm, T, D, eps).y;
      const hidden = swigluForward(p("gate_proj", n2), p("up_proj", n2)); // (T, I)
      residualAdd(x, p("down_proj", hidden)); // x += down(hidden)
    });
    this.#position += T;
    const rows = allRows ? T : 1;
    const last = x.subarray((T - rows) * D);
    const nf = rmsnormForward(last, m.norm, rows, D, eps).y;
    return linearForward(nf, m.lmHead, rows, D, c.vocabSize); // (rows, V)
  }

  #project(
    lin: ReferenceModel<Float32Array>["layers"][number]["proj"][Projection],
    x: Float32Array,
    T: number,
  ): Float32Array {
    return adaptedLinearForward(lin, x, T, this.#model.loraScale).y; // x·Wᵀ (+ s·B·(A·x))
  }
}

/** Rounds every value to the nearest f16 (ties to even), in place. */
function roundToF16(...arrays: Float32Array[]): void {
  for (const values of arrays) {
    for (let i = 0; i < values.length; i++) values[i] = Math.f16round(values[i]);
  }
}
