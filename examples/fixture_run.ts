/**
 * A real-sized model on this machine's WebGPU adapter: a random model with exactly the config
 * of Llama-3.2-1B (16 layers, hidden 2048, vocab 128256, the real Llama 3 tokenizer),
 * Qwen2.5-0.5B-Instruct or Qwen3-0.6B (the real Qwen3 tokenizer), in bf16, is created (once),
 * loaded, generates a few greedy tokens, then trains a few LoRA steps. Each phase prints its
 * wall time, tokens/s, the GPU bytes the runtime allocated (by category) and the memory
 * estimator's prediction for the same settings.
 *
 *   deno run -A examples/fixture_run.ts [--preset llama-3.2-1b|qwen2.5-0.5b|qwen3-0.6b]
 *     [--dir ./model_cache/fixture-PRESET] [--tokens 4] [--steps 2] [--seq-len 64] [--rank 16]
 *     [--grad-checkpoint] [--max-context 2048] [--prompt TEXT]
 *
 * Not a test: on a CPU adapter (lavapipe) it takes minutes and several GB of memory.
 *
 * @module
 */
import { join } from "node:path";
import {
  acquireGpu,
  estimateInference,
  estimateTraining,
  loadModel,
  LORA_DEFAULTS,
  loraParameterCount,
  measuredBreakdown,
  type MemoryBreakdown,
  type MemoryReport,
  modelParameterCount,
  resolveLoraConfig,
  trainLora,
  type TrainStepEvent,
  writeModelFiles,
} from "../mod.ts";
// Not in mod.ts: the fixtures carry the real tokenizers (9 MB and more), which mod.ts must not load.
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { fail, numberFlag } from "./_cli.ts";
import { parseCommand } from "./_flags.ts";
import { formatBytes, memoryTable } from "./_memory_table.ts";

const PRESETS = ["llama-3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b"] as const;
const flags = parseCommand(Deno.args, {
  name: "fixture_run",
  summary: "Load, generate with and train a random model of a real model's exact shape, " +
    "with measured and estimated GPU memory.",
  usage: "[--preset NAME] [options]",
  flags: {
    preset: { value: PRESETS.join("|"), help: "The shape (default llama-3.2-1b)" },
    dir: { value: "DIR", help: "Where the fixture lives (default ./model_cache/fixture-PRESET)" },
    tokens: { value: "N", help: "Tokens to generate (default 4)" },
    steps: { value: "N", help: "Training steps (default 2)" },
    "seq-len": { value: "N", help: "Training sequence length (default 64)" },
    rank: { value: "N", help: `LoRA rank (default ${LORA_DEFAULTS.r})` },
    "grad-checkpoint": { type: "boolean", help: "Train with gradient checkpointing" },
    "max-context": { value: "N", help: "Inference context (default the engine's)" },
    prompt: { value: "TEXT", help: "The prompt to generate from" },
  },
});

/** A flag that must be a positive integer. */
function positiveInt(value: string | undefined, name: string, fallback: number): number {
  const n = numberFlag(value, name, fallback);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${n}`);
  return n;
}

const preset = (flags.preset ?? "llama-3.2-1b") as typeof PRESETS[number];
if (!PRESETS.includes(preset)) fail(`--preset must be one of ${PRESETS.join(", ")}, got ${preset}`);
const dir = flags.dir ?? `./model_cache/fixture-${preset}`;
const newTokens = positiveInt(flags.tokens, "tokens", 4);
const steps = positiveInt(flags.steps, "steps", 2);
const seqLen = positiveInt(flags["seq-len"], "seq-len", 64);
const maxContext = flags["max-context"] === undefined
  ? undefined // the engine's default
  : positiveInt(flags["max-context"], "max-context", 0);
const gradCheckpoint = flags["grad-checkpoint"] ?? false;
const lora = resolveLoraConfig({
  r: positiveInt(flags.rank, "rank", LORA_DEFAULTS.r),
  targetModules: ["q_proj", "k_proj", "v_proj"],
});
const prompt = flags.prompt ?? "What is the capital of France?";

const seconds = (start: number) => (performance.now() - start) / 1000;
const rss = () => formatBytes(Deno.memoryUsage().rss);

/** Prints measured bytes beside the estimate, and the measured peak. */
function printMemory(
  measured: MemoryReport,
  measuredTitle: string,
  estimate: MemoryBreakdown,
  estimateTitle: string,
) {
  const allocated = measuredBreakdown(measured);
  console.log(memoryTable([
    { title: measuredTitle, breakdown: allocated },
    { title: estimateTitle, breakdown: estimate },
  ], "weights (bf16)"));
  const now = allocated.total;
  console.log(
    `allocated ${now.toLocaleString("en-US")} B, estimate ${
      estimate.total.toLocaleString("en-US")
    } ` +
      `B (${(estimate.total / now).toFixed(4)}×); peak allocated ${formatBytes(measured.peak)}; ` +
      `host RSS ${rss()}`,
  );
}

// 1. The fixture.
if (!(await Deno.stat(join(dir, "config.json")).then(() => true, () => false))) {
  console.log(`Creating the ${preset} fixture (bf16, the family's real tokenizer) in ${dir}...`);
  const start = performance.now();
  await writeModelFiles(dir, createFixtureModel({ preset, dtype: "BF16" }));
  console.log(`  created in ${seconds(start).toFixed(1)} s`);
}

// 2. Load.
const gpu = await acquireGpu();
console.log(`Adapter: ${gpu.adapterName}; binding limit ${formatBytes(gpu.maxBindingBytes)}`);
let start = performance.now();
const model = await loadModel(dir, { backend: "webgpu", gpu, maxContext });
const config = model.config;
const embed = model.gpuWeights!.embed;
console.log(
  `\nLoaded ${dir} in ${seconds(start).toFixed(1)} s: ${config.numLayers} layers, hidden ` +
    `${config.hiddenSize}, vocab ${config.vocabSize}, ` +
    `${modelParameterCount(config).toLocaleString("en-US")} parameters (${config.torchDtype}); ` +
    `embedding [${embed.shape}] in ${embed.chunks.length} chunks of ` +
    `${embed.chunks.map((c) => c.rows).join(", ")} rows (LM head tied: ` +
    `${model.gpuWeights!.lmHead === embed})`,
);
const inference = estimateInference(config, {
  maxContext: model.maxContext,
  maxBindingBytes: gpu.maxBindingBytes,
});
printMemory(gpu.memory.report(), "allocated after load", inference, "estimate");

// 3. Generate: the prompt and one token, then N tokens; decoding is the difference.
const greedy = (maxTokens: number) => model.generate(prompt, { maxTokens, temperature: 0 });
start = performance.now();
const first = await greedy(1);
const prefill = seconds(start);
start = performance.now();
const result = await greedy(newTokens);
const total = seconds(start);
const decodeRate = (result.completionTokens - 1) / Math.max(total - prefill, 1e-9);
console.log(
  `\nGenerate (greedy) from ${JSON.stringify(prompt)} (${first.promptTokens} prompt tokens): ` +
    `prefill + 1 token ${prefill.toFixed(1)} s (${(first.promptTokens / prefill).toFixed(3)} ` +
    `prompt tokens/s); ${result.completionTokens} tokens in ${total.toFixed(1)} s: ` +
    `${(result.completionTokens / total).toFixed(3)} tokens/s overall, ` +
    `${decodeRate.toFixed(3)} tokens/s decoding; finish ${result.finishReason}; ` +
    `tokens [${result.tokens}] ${JSON.stringify(result.text)}`,
);
printMemory(gpu.memory.report(), "allocated after generating", inference, "estimate");

// 4. Train: K optimizer steps of one sequence of seq-len tokens each.
const tokenizer = model.tokenizer;
const text = "Human: 为什么天是蓝的？\nAssistant: Sunlight is scattered by the air; blue light " +
  "scatters more than red, so the sky looks blue. ";
let ids: number[] = [];
while (ids.length < seqLen) ids = ids.concat(tokenizer.encode(text));
ids = ids.slice(0, seqLen);
const training = estimateTraining(config, {
  lora,
  batchSize: 1,
  seqLen,
  gradCheckpoint,
  optimizer: "adamw",
  maxBindingBytes: gpu.maxBindingBytes,
});
console.log(
  `\nTrain LoRA r=${lora.r} on ${lora.targetModules.join(", ")} ` +
    `(${loraParameterCount(config, lora).toLocaleString("en-US")} parameters), AdamW, ` +
    `batch 1 × ${seqLen} tokens, ${steps} steps${gradCheckpoint ? ", gradient checkpointing" : ""}`,
);
console.log(
  `estimate for training: ${formatBytes(training.total)} (activations ` +
    `${formatBytes(training.activations)}); training frees the model's KV cache first`,
);
start = performance.now();
let last = start;
let during: MemoryReport | null = null;
const run = trainLora(model, [{ inputIds: ids, labels: ids }], {
  lora,
  maxSteps: steps,
  gradAccum: 1,
  batchSize: 1,
  gradCheckpoint,
});
let next = await run.next();
while (!next.done) {
  const e: TrainStepEvent = next.value;
  during ??= gpu.memory.report();
  const now = performance.now();
  console.log(
    `  step ${e.step}/${e.totalSteps}: loss ${e.loss?.toFixed(4)}, grad norm ` +
      `${e.gradNorm?.toFixed(4)}, ${((now - last) / 1000).toFixed(1)} s, ` +
      `${(seqLen / ((now - last) / 1000)).toFixed(2)} tokens/s this step`,
  );
  last = now;
  next = await run.next();
}
const trained = next.value;
console.log(
  `trained ${trained.steps} steps in ${seconds(start).toFixed(1)} s: ` +
    `${trained.tokensPerSecond.toFixed(2)} tokens/s; peak allocated ` +
    `${formatBytes(trained.peakGpuBytes)}`,
);
printMemory(during!, "allocated while training", training, "estimate");
model.dispose();
