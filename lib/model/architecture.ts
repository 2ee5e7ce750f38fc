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
export type ModelFamily = "llama" | "mistral" | "qwen2" | "qwen3";

/** The config.json fields that decide which projections carry a bias. */
export interface BiasFlags {
  /** `attention_bias` (Llama, Mistral, Qwen3): q, k, v and o. */
  attention_bias: boolean;
  /** `mlp_bias` (Llama): gate, up and down. */
  mlp_bias: boolean;
}

/** What a family's decoder layer has beyond Llama's (norm, attention, norm, SwiGLU MLP). */
export interface ArchitectureSpec {
  /** The family. */
  family: ModelFamily;
  /** `architectures[0]` of its config.json. */
  architecture: string;
  /** `model_type` of its config.json. */
  modelType: string;
  /** Projections that carry a bias (out features) in the checkpoint, given the config's flags. */
  biasedProjections(flags: BiasFlags): Projection[];
  /** Whether q and k get an RMSNorm per head (weight of size head_dim) before RoPE. */
  qkNorm: boolean;
  /** Whether the family reads `use_sliding_window` (Qwen) or `sliding_window` alone (Mistral). */
  slidingWindow: "use_sliding_window" | "sliding_window" | null;
  /** PEFT's `target_modules` when a LoRA config names none (its per-model-type mapping). */
  peftTargetModules: readonly Projection[];
}

/** PEFT's default LoRA targets for all four families: the original LoRA paper's q and v. */
const PEFT_QV: readonly Projection[] = ["q_proj", "v_proj"];

const ATTENTION: Projection[] = ["q_proj", "k_proj", "v_proj", "o_proj"];
const MLP: Projection[] = ["gate_proj", "up_proj", "down_proj"];

/** Biases as transformers' Llama builds them: `attention_bias` on q/k/v/o, `mlp_bias` on the MLP. */
function llamaBiases(flags: BiasFlags): Projection[] {
  return [...(flags.attention_bias ? ATTENTION : []), ...(flags.mlp_bias ? MLP : [])];
}

/** Every supported family, by its `architectures` name. */
export const ARCHITECTURES: Readonly<Record<string, ArchitectureSpec>> = {
  LlamaForCausalLM: {
    family: "llama",
    architecture: "LlamaForCausalLM",
    modelType: "llama",
    biasedProjections: llamaBiases,
    qkNorm: false,
    slidingWindow: null,
    peftTargetModules: PEFT_QV,
  },
  MistralForCausalLM: {
    family: "mistral",
    architecture: "MistralForCausalLM",
    modelType: "mistral",
    biasedProjections: () => [], // transformers' Mistral has no biases
    qkNorm: false,
    slidingWindow: "sliding_window",
    peftTargetModules: PEFT_QV,
  },
  Qwen2ForCausalLM: {
    family: "qwen2",
    architecture: "Qwen2ForCausalLM",
    modelType: "qwen2",
    biasedProjections: () => ["q_proj", "k_proj", "v_proj"], // always, and never on o_proj
    qkNorm: false,
    slidingWindow: "use_sliding_window",
    peftTargetModules: PEFT_QV,
  },
  Qwen3ForCausalLM: {
    family: "qwen3",
    architecture: "Qwen3ForCausalLM",
    modelType: "qwen3",
    biasedProjections: (flags) => flags.attention_bias ? ATTENTION : [],
    qkNorm: true,
    slidingWindow: "use_sliding_window",
    peftTargetModules: PEFT_QV,
  },
};

/** The spec of a family. */
export function familySpec(family: ModelFamily): ArchitectureSpec {
  return Object.values(ARCHITECTURES).find((s) => s.family === family)!;
}

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
      const moe = /Moe|Mixtral/.test(String(other)) ? " (mixture-of-experts models are not)" : "";
      throw new Error(
        `Unsupported architecture ${JSON.stringify(other ?? "")}: only ${
          names("architecture")
        } are supported${moe}`,
      );
    }
    spec = ARCHITECTURES[architectures[0]];
  }
  if (modelType !== undefined) {
    const byType = supported.find((s) => s.modelType === modelType);
    if (!byType) {
      throw new Error(
        `Unsupported model_type ${JSON.stringify(modelType)}: only ${names("modelType")} are ` +
          `supported`,
      );
    }
    if (spec && spec !== byType) {
      throw new Error(
        `Invalid config: model_type ${JSON.stringify(modelType)} does not match architecture ` +
          spec.architecture,
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
