/**
 * The GPU memory plan of LoRA training: saved activations (per layer, or one shared set when
 * gradient checkpointing recomputes each layer in backward), gradient workspace, LoRA
 * parameters, gradients and optimizer state, and the vocabulary-chunked loss workspace.
 * The trainer allocates exactly these buffers; the estimator sums them.
 *
 * Dimensions: B sequences per micro-batch, T tokens per sequence, N = B·T rows, D hidden,
 * I intermediate, H heads, KV kv heads, HD head dim, V vocab, VC vocab chunk, R rank, L layers.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { LoraConfig } from "../lora/lora_config.ts";
import { loraTensorShapes } from "../lora/lora_weights.ts";
import type { BufferSpec } from "../model/plan.ts";

/** The sizes that shape training buffers. */
export interface TrainingSizes {
  /** Sequences per micro-batch (B). */
  batchSize: number;
  /** Longest sequence (T). */
  seqLen: number;
  /** Recompute each layer in backward instead of saving its activations. */
  gradCheckpoint: boolean;
  /** Largest binding in bytes; bounds the logits chunk. */
  maxBindingBytes: number;
  /** The optimizer's state tensors per parameter (AdamW 2, SGD 0). */
  optimizerStates: number;
}

/** Rows of the vocabulary processed per LM-head chunk in the loss. */
export function vocabChunkRows(config: ModelConfig, sizes: TrainingSizes): number {
  const rows = sizes.batchSize * sizes.seqLen;
  const byBinding = Math.floor(sizes.maxBindingBytes / (rows * 4));
  return Math.max(1, Math.min(config.vocabSize, byBinding, 32768));
}

/** Prefix of a layer's activation buffers: its own, or the shared set when checkpointing. */
export function layerPrefix(layer: number, gradCheckpoint: boolean): string {
  return gradCheckpoint ? "act.shared" : `act.${layer}`;
}

/** Every buffer of a training run. */
export function planTraining(
  config: ModelConfig,
  lora: LoraConfig,
  sizes: TrainingSizes,
): BufferSpec[] {
  const N = sizes.batchSize * sizes.seqLen;
  const D = config.hiddenSize, I = config.intermediateSize, R = lora.r;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  const f32 = (name: string, shape: number[], category: BufferSpec["category"]): BufferSpec => ({
    name,
    shape,
    dtype: "f32",
    category,
  });
  const specs: BufferSpec[] = [
    { name: "ids", shape: [N], dtype: "u32", category: "activations" },
    { name: "targets", shape: [N], dtype: "i32", category: "activations" },
    f32("rope.cos", [sizes.seqLen, config.headDim / 2], "workspace"),
    f32("rope.sin", [sizes.seqLen, config.headDim / 2], "workspace"),
  ];
  // Residual stream entering each layer, and leaving the last one: (N, D) each.
  for (let l = 0; l <= config.numLayers; l++) specs.push(f32(`x.${l}`, [N, D], "activations"));
  const layers = sizes.gradCheckpoint ? 1 : config.numLayers;
  for (let l = 0; l < layers; l++) {
    const p = layerPrefix(l, sizes.gradCheckpoint);
    specs.push(
      f32(`${p}.n1`, [N, D], "activations"), // rmsnorm(x)
      f32(`${p}.rstd1`, [N], "activations"),
      f32(`${p}.q`, [N, q], "activations"), // rotated
      f32(`${p}.k`, [N, kv], "activations"), // rotated
      f32(`${p}.v`, [N, kv], "activations"),
      f32(`${p}.attn`, [N, q], "activations"),
      f32(`${p}.lse`, [sizes.batchSize, config.numHeads, sizes.seqLen], "activations"),
      f32(`${p}.xmid`, [N, D], "activations"), // x + attention
      f32(`${p}.n2`, [N, D], "activations"),
      f32(`${p}.rstd2`, [N], "activations"),
      f32(`${p}.gate`, [N, I], "activations"),
      f32(`${p}.up`, [N, I], "activations"),
      f32(`${p}.hidden`, [N, I], "activations"), // silu(gate)·up
    );
    for (const t of lora.targetModules) specs.push(f32(`${p}.u.${t}`, [N, R], "activations")); // A·x
  }
  const V = vocabChunkRows(config, sizes);
  specs.push(
    f32("final.n", [N, D], "activations"),
    f32("final.rstd", [N], "activations"),
    f32("logits", [N, V], "workspace"), // one vocabulary chunk
    f32("ce.stats", [N, 4], "workspace"),
    f32("loss.sum", [2], "workspace"), // running loss totals: training, forward-only
    f32("grad.x", [N, D], "workspace"), // d residual stream
    f32("grad.n", [N, D], "workspace"), // d norm output
    f32("grad.q", [N, q], "workspace"),
    f32("grad.k", [N, kv], "workspace"),
    f32("grad.v", [N, kv], "workspace"),
    f32("grad.attn", [N, q], "workspace"),
    f32("grad.delta", [sizes.batchSize, config.numHeads, sizes.seqLen], "workspace"),
    f32("grad.gate", [N, I], "workspace"),
    f32("grad.up", [N, I], "workspace"),
    f32("grad.hidden", [N, I], "workspace"),
    f32("grad.u", [N, R], "workspace"), // d(A·x)
    f32("lora.scratch", [N, Math.max(D, I, q)], "workspace"), // dropout(x), or dU·A before masking
    f32("grad.sumsq", [1], "workspace"),
    f32("grad.scale", [1], "workspace"),
  );
  for (const [key, shape] of loraTensorShapes(config, lora)) {
    specs.push(f32(`param:${key}`, shape, "lora"));
    specs.push(f32(`grad:${key}`, shape, "gradients"));
    for (let s = 0; s < sizes.optimizerStates; s++) {
      specs.push(f32(`opt${s}:${key}`, shape, "optimizer"));
    }
  }
  return specs;
}
