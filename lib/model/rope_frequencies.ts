/**
 * Rotary position embedding tables with Hugging Face Llama semantics, including llama3
 * frequency scaling. Every intermediate is rounded to f32 the way PyTorch computes it, so the
 * tables match `LlamaRotaryEmbedding` to the last bit or within one f32 ulp.
 *
 * Dimension letters: HD head dim, P positions.
 *
 * Rotate-half convention: element i of a head pairs with element i + HD/2, and both use
 * frequency i, so the tables hold only HD/2 columns.
 *
 * @module
 */
import type { ModelConfig, RopeScalingLlama3 } from "./config.ts";

/** The fields of a Llama config that RoPE reads. */
export type RopeConfig = Pick<ModelConfig, "headDim" | "ropeTheta" | "ropeScaling">;

const f32 = Math.fround;

/**
 * The inverse frequencies `1 / theta^(2i/HD)` for i in [0, HD/2), with llama3 scaling applied
 * when the config has it, computed in f32 like PyTorch.
 *
 * @returns (HD/2)
 */
export function ropeInverseFrequencies(config: RopeConfig): Float32Array {
  const hd = config.headDim;
  if (!Number.isInteger(hd) || hd <= 0 || hd % 2 !== 0) {
    throw new Error(`Head dimension ${hd} must be a positive even integer`);
  }
  if (!(config.ropeTheta > 0)) throw new Error(`Rope theta ${config.ropeTheta} must be positive`);
  const theta = f32(config.ropeTheta);
  const invFreq = new Float32Array(hd / 2); // (HD/2)
  for (let i = 0; i < hd / 2; i++) {
    // torch.arange(0, HD, 2, int64).float() / HD, then theta ** that in f32, then 1.0 / that
    // (a Python scalar over a tensor is `tensor.reciprocal() * scalar`).
    const exponent = f32((2 * i) / hd);
    invFreq[i] = f32(1 / f32(Math.pow(theta, exponent)));
  }
  if (config.ropeScaling) applyLlama3Scaling(invFreq, config.ropeScaling);
  return invFreq;
}

/**
 * In place: transformers' `_compute_llama3_parameters`, each tensor op rounded to f32 with its
 * Python scalars cast to f32. `scalar / tensor` is `tensor.reciprocal() * scalar` in PyTorch.
 *
 * @param invFreq (HD/2)
 */
function applyLlama3Scaling(invFreq: Float32Array, scaling: RopeScalingLlama3): void {
  const { factor, lowFreqFactor: low, highFreqFactor: high } = scaling;
  const old = scaling.originalMaxPositionEmbeddings;
  if (!(factor > 0) || !(low > 0) || !(high > low) || !(old > 0)) {
    throw new Error(
      `Rope scaling ${JSON.stringify(scaling)} needs factor > 0, ` +
        `0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0`,
    );
  }
  const lowFreqWavelen = f32(old / low);
  const highFreqWavelen = f32(old / high);
  const twoPi = f32(2 * Math.PI);
  const [factor32, low32, range32, old32] = [f32(factor), f32(low), f32(high - low), f32(old)];
  for (let i = 0; i < invFreq.length; i++) {
    const f = invFreq[i];
    const wavelen = f32(f32(1 / f) * twoPi); // 2π / inv_freq
    if (wavelen > lowFreqWavelen) {
      invFreq[i] = f32(f / factor32);
    } else if (!(wavelen < highFreqWavelen)) {
      // smooth = (old / wavelen − low) / (high − low)
      const smooth = f32(f32(f32(f32(1 / wavelen) * old32) - low32) / range32);
      // (1 − smooth) · f / factor + smooth · f
      invFreq[i] = f32(f32(f32(f32(1 - smooth) * f) / factor32) + f32(smooth * f));
    }
  }
}

/**
 * cos and sin of `position · invFreq` for positions 0..positions-1: the angle is rounded to
 * f32 (PyTorch multiplies in f32), then its cos and sin are rounded to f32.
 *
 * @returns cos (P, HD/2) and sin (P, HD/2), row-major
 */
export function ropeTables(
  config: RopeConfig,
  positions: number,
): { cos: Float32Array; sin: Float32Array } {
  if (!Number.isInteger(positions) || positions < 0) {
    throw new Error(`Position count ${positions} must be a non-negative integer`);
  }
  const invFreq = ropeInverseFrequencies(config); // (HD/2)
  const half = invFreq.length;
  const cos = new Float32Array(positions * half); // (P, HD/2)
  const sin = new Float32Array(positions * half); // (P, HD/2)
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(f32(p) * invFreq[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
