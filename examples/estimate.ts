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
 * With --json one object is printed, with snake_case keys: `{model, settings, lora_parameters,
 * training: {without_checkpointing, with_checkpointing}, inference}`, in bytes. Training frees the loaded
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
  type MemoryBreakdown,
  type ModelConfig,
  modelParameterCount,
  parseModelConfig,
  resolveLoraConfig,
  resolveMaxContext,
  TRAINING_DEFAULTS,
} from "../mod.ts";
import { fail, numberFlag } from "./_cli.ts";
import { parseCommand, usageLine } from "./_flags.ts";
import { memoryTable } from "./_memory_table.ts";

const command = {
  name: "estimate",
  summary: "Estimate the GPU memory of LoRA training and of inference from a model's config.",
  usage: "(--model DIR | --config FILE | --preset NAME) [options]",
  flags: {
    model: { value: "DIR", help: "A model folder (only its config.json is read)" },
    config: { value: "FILE", help: "A config.json file" },
    preset: {
      value: "NAME",
      help: "A known config: llama-3.2-1b, qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, qwen3-1.7b",
    },
    "batch-size": {
      value: "N",
      help: `Examples per micro-batch (default ${TRAINING_DEFAULTS.batchSize})`,
    },
    "max-length": {
      value: "N",
      help: `Tokens per example (default ${TRAINING_DEFAULTS.maxLength})`,
    },
    rank: { value: "N", help: "LoRA rank (default 16)" },
    target: { value: "LIST", help: "Comma-separated projections or all-linear (default q,k,v)" },
    optimizer: { value: "adamw|sgd", help: `Optimizer (default ${TRAINING_DEFAULTS.optimizer})` },
    "grad-checkpoint": {
      type: "boolean",
      help: "Mark the gradient-checkpointing column as the run's",
    },
    "max-context": { value: "N", help: "Inference context (default the model's, capped at 2048)" },
    dtype: { value: "bf16|f16|f32", help: "Estimate the weights as if stored in this dtype" },
    "kv-cache": { value: "f32|f16", help: `KV cache dtype (default ${DEFAULT_KV_CACHE_DTYPE})` },
    json: {
      type: "boolean",
      help: "Print one JSON object (snake_case keys, bytes): model, settings, lora_parameters, " +
        "training {without_checkpointing, with_checkpointing}, inference",
    },
  },
} as const;
const USAGE = usageLine(command);
const flags = parseCommand(Deno.args, command);

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

/** A breakdown with snake_case keys, as all JSON the commands print. */
function snakeBreakdown(b: MemoryBreakdown) {
  return {
    weights: b.weights,
    lora: b.lora,
    gradients: b.gradients,
    optimizer: b.optimizer,
    activations: b.activations,
    kv_cache: b.kvCache,
    workspace: b.workspace,
    total: b.total,
  };
}

if (flags.json) {
  console.log(JSON.stringify({
    model: {
      config: configPath ?? null,
      preset: flags.preset ?? null,
      layers: config.numLayers,
      hidden_size: config.hiddenSize,
      vocab_size: config.vocabSize,
      parameters,
      weights_dtype: weightsDtype,
    },
    settings: {
      batch_size: batchSize,
      max_length: maxLength,
      rank: lora.r,
      target_modules: lora.targetModules,
      optimizer,
      grad_checkpoint: gradCheckpoint,
      max_context: maxContext,
      kv_cache_dtype: kvCacheDtype,
    },
    lora_parameters: loraParameters,
    training: {
      without_checkpointing: snakeBreakdown(withoutCheckpointing),
      with_checkpointing: snakeBreakdown(withCheckpointing),
    },
    inference: snakeBreakdown(inference),
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
