import assert from "node:assert/strict";
import { resolveLoraConfig } from "./lora_config.ts";
import { adapterModelCard, isHubModelId, mergedModelCard } from "./model_card.ts";

Deno.test("hub ids are told from local paths", () => {
  for (const id of ["meta-llama/Llama-3.2-1B", "LLM-Research/Llama-3.2-1B", "Qwen/Qwen2.5-0.5B"]) {
    assert.ok(isHubModelId(id), id);
  }
  for (
    const path of [
      "./model",
      "/abs/model",
      "model_cache/LLM-Research/Llama-3___2-1B",
      "~/m/x",
      "C:\\m",
      "../a/b",
      "tiny",
    ]
  ) assert.ok(!isHubModelId(path), path);
});

Deno.test("the card's front matter has library_name peft and base_model for a hub id only", () => {
  const config = resolveLoraConfig({ r: 16, alpha: 32, useRslora: true, layers: [0, 2] });
  const card = adapterModelCard(config, "meta-llama/Llama-3.2-1B");
  assert.match(card, /^---\nbase_model: meta-llama\/Llama-3\.2-1B\nlibrary_name: peft\n/);
  assert.match(
    card,
    /Rank 16, lora_alpha 32 with rsLoRA \(scale 8\), on q_proj, k_proj, v_proj of layers 0, 2\./,
  );
  assert.match(card, /llama\.cpp ignores `use_rslora`/);
  const local = adapterModelCard(resolveLoraConfig(), "./model_cache/x");
  assert.match(local, /^---\nlibrary_name: peft\n/);
  assert.doesNotMatch(local, /base_model:/);
  assert.doesNotMatch(local, /llama\.cpp/);
});

Deno.test("a merged model's card names its hub base model", () => {
  const config = resolveLoraConfig({ r: 8, alpha: 16 });
  assert.match(
    mergedModelCard(config, "Qwen/Qwen2.5-0.5B"),
    /^---\nbase_model: Qwen\/Qwen2\.5-0\.5B\n/,
  );
  assert.doesNotMatch(mergedModelCard(config, "/models/qwen"), /base_model:/);
});
