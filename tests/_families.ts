/**
 * Tiny fixture models of the families beyond Llama (its sizes with each family's architecture
 * fields), shared by the family tests.
 *
 * @module
 */
import type { FixtureOptions } from "../lib/fixtures/fixture_model.ts";

/** Tiny models of each family: Llama's sizes with the family's architecture fields. */
export const FAMILIES: Record<string, FixtureOptions> = {
  "Qwen2 (q/k/v biases, Qwen3 tokenizer)": {
    tokenizer: "qwen3",
    overrides: {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      head_dim: undefined,
      rope_scaling: null,
      rope_theta: 1e6,
      vocab_size: 151936,
    },
  },
  "Qwen3 (per-head q/k norms, head_dim 32, Qwen3 tokenizer)": {
    tokenizer: "qwen3",
    overrides: {
      architectures: ["Qwen3ForCausalLM"],
      model_type: "qwen3",
      head_dim: 32,
      rope_scaling: null,
      rope_theta: 1e6,
      vocab_size: 151936,
    },
  },
  "Mistral (sliding_window null)": {
    overrides: {
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      sliding_window: null,
    },
  },
};
