/**
 * Access to the PyTorch golden values in tests/golden/ (see its README.md).
 *
 * @module
 */
import { type Checkpoint, readCheckpoint } from "../lib/format/checkpoint.ts";
import { dirModelSource } from "../lib/format/fs_model_source.ts";
import type { LoraWeights } from "../lib/lora/lora_weights.ts";
import { readPeftAdapter } from "../lib/lora/peft_files.ts";
import { entryToF32, parseSafetensors } from "../lib/format/safetensors.ts";

/** The expected-*.json files. */
export interface GoldenExpected {
  ids: number[];
  logits_base: number[];
  logits_with_adapter: number[];
  batch: { input_ids: number[]; labels: number[] }[];
  loss_with_adapter: number;
  label_tokens: number;
  lora_grads: Record<string, number[]>;
}

/** The folder of the golden data. */
export const GOLDEN = new URL("./golden/", import.meta.url);

/** A path inside tests/golden/ as a file-system path. */
export function goldenPath(path: string): string {
  return new URL(path, GOLDEN).pathname;
}

/** Parses a JSON file of tests/golden/. */
export async function readGoldenJson(path: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(new URL(path, GOLDEN)));
}

/** The golden models: Llama in f32 and bf16, Qwen2 and Qwen3 in bf16. */
export const GOLDEN_MODELS = {
  f32: { model: "tiny-f32", adapter: "adapter-r4" },
  bf16: { model: "tiny-bf16", adapter: "adapter-r4" },
  "qwen2-bf16": { model: "tiny-qwen2-bf16", adapter: "adapter-qwen2-r4" },
  "qwen3-bf16": { model: "tiny-qwen3-bf16", adapter: "adapter-qwen3-r4" },
} as const;

/** The name of a golden model: its expected values are `expected-<name>.json`. */
export type GoldenName = keyof typeof GOLDEN_MODELS;

/** The expected values of a golden model. */
export async function goldenExpected(name: GoldenName): Promise<GoldenExpected> {
  return await readGoldenJson(`expected-${name}.json`) as GoldenExpected;
}

/** Every tensor of a golden safetensors file, widened to f32. */
export async function readGoldenTensors(path: string): Promise<Map<string, Float32Array>> {
  const file = parseSafetensors(await Deno.readFile(new URL(path, GOLDEN)), path);
  return new Map([...file.tensors].map(([name, entry]) => [name, entryToF32(entry)]));
}

/** A golden model as the engine loads it: expected values, checkpoint and the PEFT adapter. */
export interface GoldenCase {
  /** The expected values. */
  expected: GoldenExpected;
  /** The checked checkpoint. */
  checkpoint: Checkpoint;
  /** Its r=4 PEFT adapter, loaded through readPeftAdapter. */
  adapter: LoraWeights;
}

/** Loads a golden model and its adapter through the engine's own loaders. */
export async function goldenCase(name: GoldenName): Promise<GoldenCase> {
  const { model, adapter: adapterFolder } = GOLDEN_MODELS[name];
  const checkpoint = await readCheckpoint(dirModelSource(goldenPath(model)));
  const adapter = await readPeftAdapter(
    dirModelSource(goldenPath(adapterFolder)),
    checkpoint.config,
  );
  return { expected: await goldenExpected(name), checkpoint, adapter };
}
