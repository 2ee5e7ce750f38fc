/**
 * The model families the engine runs, as data: for each Hugging Face architecture, the
 * features its layers have beyond a plain Llama block. `parseModelConfig` reads a config.json
 * through this table into {@linkcode ModelConfig}'s architecture fields, which the GPU engine,
 * the CPU backend, the reference, the memory estimator and the fixture writer all read.
 *
 * Adding a family is an entry here (and a kernel for any feature the engine lacks); see the
 * README's architecture note.
 *
 * @module
 */
import type { Projection } from "./names.ts";

/** A model family the engine runs. */
export type ModelFamily = "llama";

/** What a family's decoder layer has beyond Llama's (norm, attention, norm, SwiGLU MLP). */
export interface ArchitectureSpec {
  /** The family. */
  family: ModelFamily;
  /** `architectures[0]` of its config.json. */
  architecture: string;
  /** `model_type` of its config.json. */
  modelType: string;
  /** Projections that carry a bias (out features) in the checkpoint; none for Llama. */
  biasedProjections: readonly Projection[];
  /** Whether q and k get an RMSNorm per head (weight of size head_dim) before RoPE. */
  qkNorm: boolean;
}

/** Every supported family, by its `architectures` name. */
export const ARCHITECTURES: Readonly<Record<string, ArchitectureSpec>> = {
  LlamaForCausalLM: {
    family: "llama",
    architecture: "LlamaForCausalLM",
    modelType: "llama",
    biasedProjections: [],
    qkNorm: false,
  },
};

/**
 * The spec of a config.json's architecture (from `architectures`, or else `model_type`);
 * anything not in {@linkcode ARCHITECTURES} is refused by name.
 */
export function architectureOf(raw: Record<string, unknown>): ArchitectureSpec {
  const { architectures, model_type: modelType } = raw;
  const supported = Object.values(ARCHITECTURES);
  const names = (key: "architecture" | "modelType") => supported.map((s) => s[key]).join(", ");
  let spec: ArchitectureSpec | undefined;
  if (architectures !== undefined && architectures !== null) {
    if (!Array.isArray(architectures)) {
      throw new Error(`Invalid architectures ${JSON.stringify(architectures)}: expected a list`);
    }
    const other = architectures.find((a) => !Object.hasOwn(ARCHITECTURES, a));
    if (other !== undefined || architectures.length === 0) {
      throw new Error(
        `Unsupported architecture ${JSON.stringify(other ?? "")}: only ${
          names("architecture")
        } is supported`,
      );
    }
    spec = ARCHITECTURES[architectures[0]];
  }
  if (modelType !== undefined) {
    const byType = supported.find((s) => s.modelType === modelType);
    if (!byType || (spec && spec !== byType)) {
      throw new Error(
        `Unsupported model_type ${JSON.stringify(modelType)}: only ${names("modelType")} is ` +
          `supported`,
      );
    }
    spec = byType;
  }
  if (!spec) {
    throw new Error(
      "Config has neither architectures nor model_type: cannot tell its architecture",
    );
  }
  return spec;
}
