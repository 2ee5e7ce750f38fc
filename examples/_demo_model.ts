/**
 * The built-in demo model: a tiny random Llama (GQA, llama3 RoPE scaling, tied embeddings,
 * bf16) made in memory, with a byte-level tokenizer learned from the bundled sample data so
 * that common Chinese characters are single tokens. It knows nothing; it is there to show the
 * download → train → infer cycle offline, in minutes, on a CPU adapter.
 *
 * @module
 */
// Not in mod.ts: the fixtures carry the 9 MB Llama 3 tokenizer, which mod.ts must not load.
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { byteLevelTokenizer } from "../lib/fixtures/fixture_tokenizer.ts";
import { memoryModelSource, type ModelSource } from "../mod.ts";

/** The bundled ruozhiba-style sample data (instruction/output records). */
export const SAMPLE_DATA = new URL("./data/ruozhiba_sample.json", import.meta.url).pathname;

/** The demo model's files as a model source. */
export async function demoModelSource(): Promise<ModelSource> {
  const records = JSON.parse(await Deno.readTextFile(SAMPLE_DATA)) as Record<string, string>[];
  const text = records.map((r) => `Human: ${r.instruction}\nAssistant: ${r.output}\n`).join("");
  const files = createFixtureModel({
    preset: "tiny",
    dtype: "BF16",
    tokenizer: byteLevelTokenizer(text, 1536),
    seed: 7,
    embeddingStd: 0.1,
    overrides: { hidden_size: 128, intermediate_size: 320, num_attention_heads: 4, head_dim: 32 },
  });
  return memoryModelSource("built-in tiny demo model", files);
}
