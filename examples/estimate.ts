/**
 * Estimate the GPU memory of LoRA training (with and without gradient checkpointing) and of
 * inference, from a model folder's config.json (no weights needed), a config file, or the
 * published config of a model the fixture writer knows (`--preset qwen3-1.7b`: llama-3.2-1b,
 * qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, qwen3-1.7b). The numbers come from the same planner
 * that allocates the real buffers.
 *
 *   deno run -A examples/estimate.ts (--model DIR | --config FILE | --preset NAME) [--batch-size 1]
 *     [--max-length 512] [--rank 16] [--target q_proj,k_proj,v_proj|all-linear]
 *     [--optimizer adamw|sgd] [--grad-checkpoint] [--max-context 2048] [--dtype bf16|f16|f32]
 *     [--kv-cache f32|f16] [--json]
 *
 * The inference column applies the adapter unmerged. --grad-checkpoint marks the training
 * column of the run's setting; --dtype estimates the weights as if stored in another dtype.
 * With --json one object is printed: `{model, settings, loraParameters, training:
 * {withoutCheckpointing, withCheckpointing}, inference}`, in bytes. Training frees the loaded
 * model's KV cache and inference activations, so the training estimate is the whole run.
 *
 * @module
 */
import { join } from "node:path";
// Not in mod.ts: the fixtures carry the real tokenizers (whose sizes the presets' configs use).
import { fixtureConfig, type FixturePreset } from "../lib/fixtures/fixture_model.ts";
import {
  DEFAULT_KV_CACHE_DTYPE,
  estimateInference,
  estimateTraining,
  isDType,
  isKvCacheDtype,
  loraParameterCount,
  type ModelConfig,
  modelParameterCount,
  parseModelConfig,
  resolveLoraConfig,
  resolveMaxContext,
  TRAINING_DEFAULTS,
} from "../mod.ts";
import { fail, numberFlag, parseFlags } from "./_cli.ts";
import { memoryTable } from "./_memory_table.ts";

const USAGE =
  "Usage: deno run -A examples/estimate.ts (--model DIR | --config FILE | --preset NAME) " +
  "[--batch-size 1] [--max-length 512] [--rank 16] [--target q_proj,k_proj,v_proj|all-linear] " +
  "[--optimizer adamw|sgd] [--grad-checkpoint] [--max-context 2048] [--dtype bf16|f16|f32] " +
  "[--kv-cache f32|f16] [--json]";

const flags = parseFlags(Deno.args, {
  model: { type: "string" },
  config: { type: "string" },
  preset: { type: "string" },
  "batch-size": { type: "string" },
  "max-length": { type: "string" },
  rank: { type: "string" },
  target: { type: "string" },
  optimizer: { type: "string" },
  "grad-checkpoint": { type: "boolean" },
  "max-context": { type: "string" },
  "kv-cache": { type: "string" },
  dtype: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
}, USAGE);

if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if ([flags.model, flags.config, flags.preset].filter((f) => f !== undefined).length !== 1) {
  fail(`Give exactly one of --model DIR, --config FILE or --preset NAME\n\n${USAGE}`);
}

/** A flag that must be a positive integer, or undefined when absent. */
function positiveInt(value: string | undefined, name: string): number | undefined {
  const n = numberFlag(value, name);
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    fail(`--${name} must be a positive integer, got ${n}`);
  }
  return n;
}

const batchSize = positiveInt(flags["batch-size"], "batch-size") ?? TRAINING_DEFAULTS.batchSize;
const maxLength = positiveInt(flags["max-length"], "max-length") ?? TRAINING_DEFAULTS.maxLength;
const requestedContext = positiveInt(flags["max-context"], "max-context");
const optimizer = flags.optimizer ?? TRAINING_DEFAULTS.optimizer;
if (optimizer !== "adamw" && optimizer !== "sgd") {
  fail(`Unknown --optimizer ${JSON.stringify(optimizer)}: expected adamw or sgd`);
}
const kvCacheDtype = flags["kv-cache"] ?? DEFAULT_KV_CACHE_DTYPE;
if (!isKvCacheDtype(kvCacheDtype)) fail(`Unknown --kv-cache ${kvCacheDtype}: expected f32 or f16`);
const dtype = flags.dtype?.toUpperCase();
if (dtype !== undefined && !isDType(dtype)) {
  fail(`Unknown --dtype ${JSON.stringify(flags.dtype)}: expected bf16, f16 or f32`);
}
let lora;
try {
  lora = resolveLoraConfig({
    r: numberFlag(flags.rank, "rank"),
    targetModules: flags.target?.split(",").map((t) => t.trim()),
  });
} catch (e) {
  fail((e as Error).message);
}

const configPath = flags.config ?? (flags.model && join(flags.model, "config.json"));
let config: ModelConfig;
try {
  config = parseModelConfig(
    configPath === undefined
      ? fixtureConfig({ preset: flags.preset as FixturePreset })
      : JSON.parse(await Deno.readTextFile(configPath)),
  );
} catch (e) {
  const reason = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
  console.error(`Cannot read the config ${configPath ?? `of --preset ${flags.preset}`}: ${reason}`);
  Deno.exit(1);
}
const weightsDtype = dtype ?? config.torchDtype;
const maxContext = resolveMaxContext(config, requestedContext); // what loadModel would allocate

const training = (gradCheckpoint: boolean) =>
  estimateTraining(config, {
    lora,
    batchSize,
    seqLen: maxLength,
    gradCheckpoint,
    optimizer,
    weightsDtype,
  });
const withoutCheckpointing = training(false);
const withCheckpointing = training(true);
const inference = estimateInference(config, { maxContext, lora, weightsDtype, kvCacheDtype });
const gradCheckpoint = flags["grad-checkpoint"] ?? false;
const parameters = modelParameterCount(config);
const loraParameters = loraParameterCount(config, lora);

if (flags.json) {
  console.log(JSON.stringify({
    model: {
      config: configPath,
      layers: config.numLayers,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      parameters,
      weightsDtype,
    },
    settings: {
      batchSize,
      maxLength,
      rank: lora.r,
      targetModules: lora.targetModules,
      optimizer,
      gradCheckpoint,
      maxContext,
      kvCacheDtype,
    },
    loraParameters,
    training: { withoutCheckpointing, withCheckpointing },
    inference,
  }));
} else {
  const mark = (on: boolean) => on === gradCheckpoint ? " *" : "";
  console.log(
    `Model ${configPath}: ${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ` +
      `${config.vocabSize}, ${parameters.toLocaleString("en-US")} parameters in ${weightsDtype}`,
  );
  console.log(
    `LoRA r=${lora.r} on ${lora.targetModules.join(", ")}: ` +
      `${loraParameters.toLocaleString("en-US")} trainable parameters`,
  );
  console.log(
    `Training: batch ${batchSize} × ${maxLength} tokens, ${
      optimizer === "adamw" ? "AdamW" : "SGD"
    }` +
      `; inference: ${maxContext}-token context, ${kvCacheDtype} KV cache, adapter applied unmerged\n`,
  );
  console.log(memoryTable([
    { title: `training${mark(false)}`, breakdown: withoutCheckpointing },
    { title: `training, grad checkpointing${mark(true)}`, breakdown: withCheckpointing },
    { title: "inference", breakdown: inference },
  ], `weights (${weightsDtype})`));
  console.log(
    "\n* the run's setting (--grad-checkpoint). Workspace holds the logits chunk, gradient " +
      "scratch, RoPE tables and uniforms.",
  );
}
