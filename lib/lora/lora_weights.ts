/**
 * Host-side LoRA adapter weights keyed by PEFT names, their PEFT initialisation, and the
 * checks that an adapter fits a model.
 *
 * Dimensions: R rank, in/out the projection's features, L layers.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { loraKey } from "../model/names.ts";
import { projectionShape } from "../model/shapes.ts";
import { Rng } from "../util/rng.ts";
import { adaptedLayers, type LoraConfig } from "./lora_config.ts";

/** An adapter's matrices: `lora_A` (R, in) and `lora_B` (out, R) by PEFT key, f32. */
export interface LoraWeights {
  /** Its hyper-parameters. */
  config: LoraConfig;
  /** PEFT key → values, row-major. */
  tensors: Map<string, Float32Array>;
}

/** Every (key, shape) an adapter with `lora` on `model` holds, in layer order, A before B. */
export function loraTensorShapes(model: ModelConfig, lora: LoraConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const l of adaptedLayers(lora, model.numLayers)) {
    for (const p of lora.targetModules) {
      const [out, inp] = projectionShape(model, p);
      shapes.set(loraKey(l, p, "A"), [lora.r, inp]); // (R, in)
      shapes.set(loraKey(l, p, "B"), [out, lora.r]); // (out, R)
    }
  }
  return shapes;
}

/**
 * Trainable parameters: Σ over layers and targets of r·(in + out).
 *
 * @example
 * ```ts
 * loraParameterCount(llama32_1b, resolveLoraConfig({ r: 16, targetModules: "all-linear" })); // 11272192
 * ```
 */
export function loraParameterCount(model: ModelConfig, lora: LoraConfig): number {
  let n = 0;
  for (const shape of loraTensorShapes(model, lora).values()) n += shape[0] * shape[1];
  return n;
}

/**
 * PEFT's initialisation: A kaiming-uniform (a = √5, so the bound is 1/√in) from a seeded RNG,
 * B zeros, so the adapted model starts equal to the base.
 *
 * @example
 * ```ts
 * const adapter = initLoraWeights(model.config, resolveLoraConfig({ r: 16 }), 42);
 * // lora_A kaiming-uniform from seed 42, lora_B zeros: the model starts unchanged
 * ```
 */
export function initLoraWeights(model: ModelConfig, lora: LoraConfig, seed: number): LoraWeights {
  const rng = new Rng(seed);
  const tensors = new Map<string, Float32Array>();
  for (const [key, shape] of loraTensorShapes(model, lora)) {
    const values = new Float32Array(shape[0] * shape[1]);
    if (key.endsWith("lora_A.weight")) {
      const bound = 1 / Math.sqrt(shape[1]);
      rng.fillUniform(values, -bound, bound);
    }
    tensors.set(key, values);
  }
  return { config: lora, tensors };
}

/**
 * Throws unless every value of the adapter is finite: a NaN or infinite adapter (a diverged
 * run's) would turn every logit it touches into NaN.
 */
export function checkLoraValues(tensors: Map<string, Float32Array>, where: string): void {
  for (const [key, values] of tensors) {
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(
        `Adapter ${where} has a non-finite value (${values[bad]}) in ${key} at index ${bad}: ` +
          `it comes from a diverged run and cannot be applied`,
      );
    }
  }
}

/**
 * Checks that `tensors` holds exactly the adapter's keys with the right shapes; throws one
 * error listing every missing, unexpected or mis-shaped tensor.
 */
export function checkLoraTensors(
  model: ModelConfig,
  lora: LoraConfig,
  tensors: Map<string, { shape: readonly number[] }>,
  where: string,
): void {
  const expected = loraTensorShapes(model, lora);
  const problems: string[] = [];
  for (const [key, shape] of expected) {
    const entry = tensors.get(key);
    if (!entry) problems.push(`missing ${key} [${shape.join(", ")}]`);
    else if (entry.shape.join() !== shape.join()) {
      problems.push(`${key} has shape [${entry.shape.join(", ")}], expected [${shape.join(", ")}]`);
    }
  }
  for (const key of tensors.keys()) {
    if (!expected.has(key)) problems.push(`unexpected ${key}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `Adapter ${where} does not fit the model (${problems.length} problems):\n  ${
        problems.join("\n  ")
      }`,
    );
  }
}
