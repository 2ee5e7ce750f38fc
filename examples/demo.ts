/**
 * The whole cycle, offline, in about a minute on any WebGPU adapter (lavapipe included):
 * create the built-in tiny demo model → generate before training → train a LoRA adapter on
 * bundled sample records → save it in PEFT format → generate after training → loss curve.
 *
 *   deno task demo            (or: deno run -A examples/demo.ts [--out ./demo_output] [--records 6])
 *
 * @module
 */
import { join } from "node:path";
import {
  dirModelSource,
  loadDataset,
  loadModel,
  lossCurveSvg,
  readPeftAdapter,
  serializePeftAdapter,
  tokenizeExamples,
  trainLora,
  writeFileAtomic,
  writeModelFiles,
} from "../mod.ts";
import { numberFlag } from "./_cli.ts";
import { parseCommand } from "./_flags.ts";
import { demoModelSource, SAMPLE_DATA } from "./_demo_model.ts";
import { followTraining } from "./_train_progress.ts";

const flags = parseCommand(Deno.args, {
  name: "demo",
  summary: "The whole cycle on a built-in tiny model: generate, train, generate with the adapter.",
  usage: "[--out DIR] [--records N]",
  flags: {
    out: { value: "DIR", help: "Where the adapter goes (default ./demo_output)" },
    records: { value: "N", help: "Sample records to train on (default 6)" },
  },
});
const out = flags.out ?? "./demo_output";
const records = numberFlag(flags.records, "records", 6);
const heading = (text: string) => console.log(`\n== ${text}`);

heading("1. Create the built-in tiny demo model");
console.log(
  "A random 2-layer Llama (hidden 128, GQA 4/2 heads, llama3 RoPE scaling, tied embeddings, bf16)\n" +
    "with a tokenizer learned from the sample data. It is tiny and knows nothing: it only shows\n" +
    "the cycle. The same commands run Llama-3.2-1B (see the end).",
);
const source = await demoModelSource();
const model = await loadModel(source, { backend: "webgpu" });
console.log(
  `Loaded on ${model.gpu?.adapterName}: ${model.config.vocabSize} tokens, ${model.config.numLayers} layers`,
);

const data = loadDataset(await Deno.readTextFile(SAMPLE_DATA), { source: SAMPLE_DATA });
const chosen = data.train.slice(0, records);
const questions = chosen.slice(0, 3).map((e) =>
  ("prompt" in e ? e.prompt : e.text).replace(/^Human: /, "").replace(/\nAssistant:$/, "")
);
const answers = chosen.slice(0, 3).map((e) => ("completion" in e ? e.completion.trim() : ""));

async function show(adapter: string | null) {
  for (const [i, q] of questions.entries()) {
    const { text } = await model.generate(q, { adapter, temperature: 0, maxTokens: 48 });
    console.log(
      `Human: ${q}\nAssistant: ${text.trim()}${
        adapter ? `\n  (trained answer: ${answers[i]})` : ""
      }`,
    );
  }
}

heading("2. Generate before training (greedy)");
await show(null);

heading(`3. Train a LoRA adapter on the first ${records} sample records`);
const { examples } = tokenizeExamples(model.tokenizer, chosen);
const run = trainLora(model, examples, {
  lora: { r: 16, alpha: 32, dropout: 0, targetModules: "all-linear" },
  epochs: 80,
  batchSize: records,
  gradAccum: 1,
  lr: 1e-2,
  scheduler: "constant",
  seed: 42,
});
const { result } = await followTraining(run, out, { json: false, resumed: false });
console.log(
  `${result.steps} steps, loss ${result.losses[0].loss.toFixed(3)} → ${
    result.losses.at(-1)!.loss.toFixed(3)
  }, ` +
    `${result.tokensPerSecond.toFixed(0)} tokens/s, peak GPU memory ${
      (result.peakGpuBytes / 2 ** 20).toFixed(1)
    } MiB`,
);

heading("4. Save the adapter in PEFT format");
const adapterDir = join(out, "adapter");
await writeModelFiles(
  adapterDir,
  serializePeftAdapter(result.adapter, model.config, "webgpu-lora/demo-tiny"),
);
console.log(`${adapterDir}/adapter_config.json + adapter_model.safetensors`);

heading("5. Generate after training, with the adapter loaded back from disk");
model.addAdapter("demo", await readPeftAdapter(dirModelSource(adapterDir), model.config));
await show("demo");

heading("6. Loss curve");
const svg = join(out, "loss_curve.svg");
await writeFileAtomic(svg, lossCurveSvg(result.losses, { title: "Demo LoRA training loss" }));
console.log(`${svg} (and ${join(out, "train_log.jsonl")})`);
model.dispose();

heading("The same cycle on Llama-3.2-1B");
console.log(
  "deno run -A examples/download.ts                       # ModelScope LLM-Research/Llama-3.2-1B\n" +
    "deno run -A examples/train.ts --data ./ruozhiba_qa.json # → ./lora_output\n" +
    'deno run -A examples/infer.ts --model ./model_cache/LLM-Research/Llama-3___2-1B --adapter ./lora_output --prompt "只剩一个心脏了还能活吗？"',
);
