/**
 * Training checkpoints: the adapter in PEFT layout, the optimizer state, and the step and RNG
 * state, as files (name → bytes) that resume a run with the same results as an uninterrupted
 * one. Writing them to disk atomically is the caller's (see `checkpoint_dir.ts`).
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import { readPeftAdapter, serializePeftAdapter } from "../lora/peft_files.ts";
import { type ModelSource, readJson } from "../format/model_source.ts";
import {
  entryToF32,
  f32Entry,
  parseSafetensors,
  serializeSafetensors,
} from "../format/safetensors.ts";
import { z } from "../deps.ts";
import type { LossPoint } from "./train_lora.ts";

/** Everything needed to continue a run. */
export interface TrainingState {
  /** Optimizer steps completed. */
  step: number;
  /** The adapter after `step` steps. */
  adapter: LoraWeights;
  /** Optimizer state slots by PEFT key (AdamW: m, v; SGD: none). */
  optimizer: Map<string, Float32Array>[];
  /** The run's seed (data order and dropout masks derive from it and the step). */
  seed: number;
  /** Fingerprint of the options that must not change on resume. */
  fingerprint: string;
  /** The losses logged so far. */
  losses: LossPoint[];
}

/** The optimizer-state file of a checkpoint. */
export const OPTIMIZER_FILE = "optimizer.safetensors";
/** The step/RNG file of a checkpoint. */
export const STATE_FILE = "trainer_state.json";

/**
 * The files of a checkpoint.
 *
 * @example
 * ```ts
 * trainLora(model, examples, {
 *   checkpointEvery: 100,
 *   onCheckpoint: (state) => writeFolderAtomic(`out/checkpoint-${state.step}`, serializeTrainingState(state, model.config, "base")),
 * });
 * ```
 */
export function serializeTrainingState(
  state: TrainingState,
  model: ModelConfig,
  baseModel: string,
): Map<string, Uint8Array> {
  const files = serializePeftAdapter(state.adapter, model, baseModel);
  const entries = state.optimizer.flatMap((slot, s) =>
    [...slot].map(([key, values]) => f32Entry(`${s}.${key}`, [values.length], values))
  );
  files.set(OPTIMIZER_FILE, serializeSafetensors(entries, { format: "pt" }));
  const meta = {
    step: state.step,
    seed: state.seed,
    fingerprint: state.fingerprint,
    optimizer_slots: state.optimizer.length,
    losses: state.losses,
  };
  files.set(STATE_FILE, new TextEncoder().encode(JSON.stringify(meta, null, 2) + "\n"));
  return files;
}

const metaSchema = z.object({
  step: z.number().int().nonnegative(),
  seed: z.number().int(),
  fingerprint: z.string(),
  optimizer_slots: z.number().int().nonnegative(),
  losses: z.array(z.object({ step: z.number().int().positive(), loss: z.number() })),
});

/**
 * Reads a checkpoint written by {@linkcode serializeTrainingState}, checking every tensor.
 *
 * @example
 * ```ts
 * const state = await readTrainingState(dirModelSource("./lora_output/checkpoint-100"), model.config);
 * trainLora(model, examples, { resume: state });
 * ```
 */
export async function readTrainingState(
  source: ModelSource,
  model: ModelConfig,
): Promise<TrainingState> {
  const where = JSON.stringify(source.name);
  const parsed = metaSchema.safeParse(await readJson(source, STATE_FILE));
  if (!parsed.success) throw new Error(`Invalid ${STATE_FILE} in checkpoint ${where}`);
  const meta = parsed.data;
  const adapter = await readPeftAdapter(source, model);
  const file = parseSafetensors(
    await source.read(OPTIMIZER_FILE),
    `${source.name}/${OPTIMIZER_FILE}`,
  );
  const optimizer: Map<string, Float32Array>[] = [];
  for (let s = 0; s < meta.optimizer_slots; s++) {
    const slot = new Map<string, Float32Array>();
    for (const [key, values] of adapter.tensors) {
      const entry = file.tensors.get(`${s}.${key}`);
      if (!entry || entryToF32(entry).length !== values.length) {
        throw new Error(`Checkpoint ${where} lacks optimizer state ${s}.${key}`);
      }
      slot.set(key, entryToF32(entry));
    }
    optimizer.push(slot);
  }
  return {
    step: meta.step,
    adapter,
    optimizer,
    seed: meta.seed,
    fingerprint: meta.fingerprint,
    losses: meta.losses,
  };
}
