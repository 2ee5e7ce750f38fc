/**
 * Shared fixtures of the LoRA and training tests: random non-zero adapters, fixture models
 * loaded from memory onto the shared test device, and the checkpoint's weights for the
 * TypeScript reference.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import { mergedModelFiles } from "../lib/lora/merge.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { createFixtureModel, type FixtureOptions } from "../lib/fixtures/fixture_model.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import type { Model } from "../lib/model/model.ts";
import { loadModel } from "../lib/model/load_model.ts";
import type { LoraConfig } from "../lib/lora/lora_config.ts";
import { initLoraWeights, type LoraWeights } from "../lib/lora/lora_weights.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import type { ReferenceWeights } from "../lib/reference/model.ts";
import { Rng } from "../lib/util/rng.ts";
import { entryToF32 } from "../lib/format/safetensors.ts";

/**
 * An adapter whose A is PEFT's seeded initialisation and whose B is uniform in
 * [−bBound, bBound] (not zero), so that it changes the model's outputs and gets gradients.
 */
export function randomAdapter(
  model: ModelConfig,
  lora: LoraConfig,
  seed: number,
  bBound = 0.1,
): LoraWeights {
  const weights = initLoraWeights(model, lora, seed);
  const rng = new Rng(seed + 0x5b);
  for (const [key, values] of weights.tensors) {
    if (key.endsWith("lora_B.weight")) rng.fillUniform(values, -bBound, bBound); // (out, R)
  }
  return weights;
}

/** A fixture model's files, and the model loaded from them on the WebGPU backend. */
export interface LoadedFixture {
  /** The model's files (config, weights, tokenizer). */
  files: Map<string, Uint8Array>;
  /** The model on `gpu`. */
  model: Model;
}

/** Creates a fixture model in memory and loads it on `gpu`. */
export async function loadFixture(gpu: Gpu, options: FixtureOptions = {}): Promise<LoadedFixture> {
  const files = createFixtureModel(options);
  const model = await loadModel(memoryModelSource("fixture", files), { backend: "webgpu", gpu });
  return { files, model };
}

/** The checkpoint's weights widened to f32, as the reference model reads them. */
export async function referenceWeights(files: Map<string, Uint8Array>): Promise<ReferenceWeights> {
  const checkpoint = await readCheckpoint(memoryModelSource("fixture", files));
  return new Map([...checkpoint.tensors].map(([name, entry]) => [name, entryToF32(entry)]));
}

/**
 * Merges `adapter` (added to `model` as `name`) into the fixture's files, loads the merged
 * folder on `gpu`, and checks that its logits of `ids` equal the unmerged adapter's within f32
 * rounding, and that the adapter moves them by far more than that (or the check means nothing).
 */
export async function assertMergedMatchesUnmerged(
  gpu: Gpu,
  model: Model,
  files: Map<string, Uint8Array>,
  adapter: LoraWeights,
  name: string,
  ids: number[],
): Promise<void> {
  const unmerged = await model.forward(ids, { adapter: name });
  const base = await model.forward(ids);
  const source = memoryModelSource("fixture", files);
  const mergedFiles = await mergedModelFiles(await readCheckpoint(source), adapter, source);
  const merged = await loadModel(memoryModelSource("merged", mergedFiles), {
    backend: "webgpu",
    gpu,
  });
  const logits = await merged.forward(ids);
  assertClose(logits, unmerged, {
    atol: 2e-5 * maxAbs(unmerged),
    rtol: 0,
    label: "merged vs unmerged",
  });
  const effect = maxAbs(unmerged.map((v, i) => v - base[i]));
  assert.ok(effect > 100 * 2e-5 * maxAbs(unmerged), `adapter effect ${effect}`);
  merged.dispose();
}
