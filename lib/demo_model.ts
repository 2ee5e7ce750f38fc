/**
 * The built-in demo model: a tiny random Llama (GQA, llama3 RoPE scaling, tied embeddings,
 * bf16) with the small byte-level tokenizer, made in memory. It knows nothing; it is there to
 * show the download → train → infer cycle offline in minutes on a CPU adapter.
 *
 * @module
 */
import { createFixtureModel } from "./fixture_model.ts";
import { memoryModelSource, type ModelSource } from "./model_source.ts";

/** The demo model's files as a model source. */
export function demoModelSource(): ModelSource {
  const files = createFixtureModel({
    preset: "tiny",
    dtype: "BF16",
    tokenizer: "small",
    seed: 7,
    overrides: { hidden_size: 128, intermediate_size: 320, num_attention_heads: 4, head_dim: 32 },
  });
  return memoryModelSource("built-in tiny demo model", files);
}
