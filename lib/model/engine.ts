/**
 * The one interface of a model's compute engine, which the WebGPU engine (`gpu_engine.ts`) and
 * the CPU engine (`cpu_engine.ts`) both implement, so that `Model` drives either one
 * without asking which; and the rules both follow for their shared options (context size and
 * KV-cache dtype).
 *
 * Dimensions: T tokens, V vocab.
 *
 * @module
 */
import { DEFAULT_KV_CACHE_DTYPE, DEFAULT_MAX_CONTEXT } from "../defaults.ts";
import type { LogitsStepper } from "../generate/generate.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import { isKvCacheDtype, type KvCacheDtype } from "../ops/rope.ts";
import type { ModelConfig } from "./config.ts";

/** Where an engine computes: WGSL kernels over WebGPU, or the plain-TypeScript reference on the CPU. */
export type Backend = "webgpu" | "cpu";

/** An adapter in the form its engine applies it: buffers on the GPU, arrays on the CPU. */
export interface EngineAdapter {
  /** Frees what it holds; the engine must no longer be applying it. */
  destroy(): void;
}

/** Options every engine takes. */
export interface EngineOptions {
  /** KV-cache slots (prompt + completion); see {@linkcode resolveMaxContext}. */
  maxContext?: number;
  /**
   * Element type of the KV cache: "f32" (default) or "f16", which halves its memory and stores
   * the cached keys and values at f16 precision.
   */
  kvCacheDtype?: KvCacheDtype;
}

/**
 * A model's compute engine: prefill and decode over a KV cache, every position's logits, and
 * LoRA adapters applied unmerged. `A` is the engine's own form of an adapter, made from
 * {@linkcode LoraWeights} by {@linkcode InferenceEngine.createAdapter}. An engine that also
 * samples on its device implements `TokenSampler` (`lib/generate/generate.ts`), which the
 * generation loop detects.
 */
export interface InferenceEngine<A extends EngineAdapter = EngineAdapter> extends LogitsStepper {
  /** Where it computes. */
  readonly backend: Backend;
  /** The model's configuration. */
  readonly config: ModelConfig;
  /** Runs the whole sequence from an empty cache and returns every position's logits (T, V). */
  logits(ids: number[]): Promise<Float32Array>;
  /** Turns host-side LoRA weights into this engine's form of the adapter. */
  createAdapter(weights: LoraWeights): A;
  /** Applies an adapter this engine made to later calls, unmerged, or removes it with null. */
  setAdapter(adapter: A | null): void;
  /**
   * Frees the KV cache and activations until the next call needs them again (training calls
   * it to make room); the cache's contents are lost. The adapter must be set again after it.
   */
  releaseBuffers(): void;
  /** Frees everything the engine allocated (not the weights it was given). */
  dispose(): void;
}

/**
 * The KV-cache slots of an engine: `requested` when given, else max_position_embeddings capped
 * at {@linkcode DEFAULT_MAX_CONTEXT}.
 *
 * @example
 * ```ts
 * resolveMaxContext(config); // 2048 for Llama-3.2-1B (131072 positions)
 * resolveMaxContext(config, 512); // 512
 * ```
 */
export function resolveMaxContext(config: ModelConfig, requested?: number): number {
  return requested ?? Math.min(config.maxPositionEmbeddings, DEFAULT_MAX_CONTEXT);
}

/**
 * The KV-cache dtype to use: `requested` (checked) or {@linkcode DEFAULT_KV_CACHE_DTYPE}.
 *
 * @example
 * ```ts
 * resolveKvCacheDtype(); // "f32"
 * resolveKvCacheDtype("bf16"); // throws RangeError
 * ```
 */
export function resolveKvCacheDtype(requested: string = DEFAULT_KV_CACHE_DTYPE): KvCacheDtype {
  if (!isKvCacheDtype(requested)) {
    throw new RangeError(`KV cache dtype ${requested} is not f32 or f16`);
  }
  return requested;
}
