/**
 * Train a LoRA adapter on an instruction/output data set and save it in PEFT format.
 *
 *   deno run -A examples/train.ts --model DIR --data FILE --out DIR
 *     [--rank 16] [--alpha 32] [--dropout 0.1] [--target q_proj,k_proj,v_proj] [--rslora]
 *     [--epochs 3] [--max-steps N] [--batch-size 1] [--grad-accum 4] [--lr 1e-4]
 *     [--optimizer adamw|sgd] [--weight-decay 0] [--scheduler linear|constant|cosine]
 *     [--warmup-steps 0] [--max-length 512] [--train-on completion|all] [--max-grad-norm 1.0]
 *     [--validation F] [--init-adapter DIR] [--resume DIR] [--checkpoint-every N]
 *     [--log-every 1] [--grad-checkpoint] [--seed 42] [--chat-template-kwargs JSON] [--json]
 *     [--overwrite] [--base-model-id ID]
 *
 * `--help` lists every flag. `--out` must be new or empty (or `--overwrite`); it is created at
 * the first step, and each step is appended to its `train_log.jsonl`. The adapter names its base
 * model by hub id where known (`--base-model-id`, else the folder's `.hub_source.json`).
 *
 * Chat records (`messages`) are rendered with the model's chat template, whose variables
 * `--chat-template-kwargs` sets, e.g. `'{"enable_thinking": false}'` for Qwen3; alpaca
 * records use `Human: {instruction}\nAssistant: {output}`.
 *
 * `--log-every N` reads the loss back every N steps (the mean of those steps' losses, like
 * Hugging Face's `logging_steps`); the steps between cost no readback.
 *
 * With no arguments it uses the paths of the user's Python script; where that model is
 * missing, it trains the built-in tiny demo model on the bundled sample data instead.
 *
 * @module
 */
import { join, resolve, sep } from "node:path";
import {
  dirModelSource,
  formatCleanReport,
  loadDatasetFile,
  loadModel,
  LORA_DEFAULTS,
  loraParameterCount,
  lossCurveSvg,
  readHubModelId,
  readPeftAdapter,
  readTrainingState,
  resolveLoraConfig,
  serializePeftAdapter,
  serializeTrainingState,
  tokenizeExamples,
  TRAINING_DEFAULTS,
  trainLora,
  writeFileAtomic,
  writeFolderAtomic,
  writeModelFiles,
} from "../mod.ts";
import { demoModelSource, SAMPLE_DATA } from "./_demo_model.ts";
import {
  chatTemplateKwargsFlag,
  checkOutFolder,
  fail,
  numberFlag,
  requireFolder,
  runCommand,
  seedFlag,
} from "./_cli.ts";
import { parseCommand } from "./_flags.ts";
import { followTraining } from "./_train_progress.ts";

const DEFAULT_MODEL = "./model_cache/LLM-Research/Llama-3___2-1B";
const DEFAULT_DATA = "./ruozhiba_qa.json";

const flags = parseCommand(Deno.args, {
  name: "train",
  summary: "Train a LoRA adapter on an instruction/output data set and save it in PEFT format.",
  usage: "--model DIR --data FILE --out DIR [options]",
  flags: {
    model: { value: "DIR", help: `The base model folder (default ${DEFAULT_MODEL})` },
    data: { value: "FILE", help: `JSON array or JSONL of records (default ${DEFAULT_DATA})` },
    out: {
      value: "DIR",
      help: "Where the adapter goes: a new or empty folder (default ./lora_output)",
    },
    overwrite: {
      type: "boolean",
      help: "Allow a non-empty --out (its adapter files are replaced)",
    },
    "base-model-id": {
      value: "ID",
      help: "Hub id written as base_model_name_or_path (default: the id download.ts recorded)",
    },
    rank: { value: "N", help: `LoRA rank (default ${LORA_DEFAULTS.r})` },
    alpha: { value: "A", help: `lora_alpha (default ${LORA_DEFAULTS.alpha})` },
    dropout: { value: "P", help: `LoRA dropout (default ${LORA_DEFAULTS.dropout})` },
    target: {
      value: "LIST",
      help: `Comma-separated projections or all-linear (default ${LORA_DEFAULTS.targetModules})`,
    },
    rslora: { type: "boolean", help: "rsLoRA scaling alpha/√r" },
    epochs: { value: "N", help: `Epochs (default ${TRAINING_DEFAULTS.epochs})` },
    "max-steps": { value: "N", help: "Stop after N optimizer steps" },
    "batch-size": {
      value: "N",
      help: `Examples per micro-batch (default ${TRAINING_DEFAULTS.batchSize})`,
    },
    "grad-accum": {
      value: "N",
      help: `Micro-batches per step (default ${TRAINING_DEFAULTS.gradAccum})`,
    },
    lr: { value: "LR", help: `Peak learning rate (default ${TRAINING_DEFAULTS.lr})` },
    optimizer: { value: "adamw|sgd", help: `Optimizer (default ${TRAINING_DEFAULTS.optimizer})` },
    "weight-decay": {
      value: "W",
      help: `Decoupled weight decay (default ${TRAINING_DEFAULTS.weightDecay})`,
    },
    scheduler: {
      value: "linear|constant|cosine",
      help: `Learning-rate schedule (default ${TRAINING_DEFAULTS.scheduler})`,
    },
    "warmup-steps": {
      value: "N",
      help: `Linear warm-up steps (default ${TRAINING_DEFAULTS.warmupSteps})`,
    },
    "max-length": {
      value: "N",
      help: `Truncate examples to N tokens (default ${TRAINING_DEFAULTS.maxLength})`,
    },
    "train-on": {
      value: "completion|all",
      help: `Which tokens the loss covers (default ${TRAINING_DEFAULTS.trainOn})`,
    },
    "max-grad-norm": {
      value: "N",
      help: `Gradient clipping norm, 0 off (default ${TRAINING_DEFAULTS.maxGradNorm})`,
    },
    validation: {
      value: "F",
      help: "Hold out this fraction (or count) of the data for validation",
    },
    "init-adapter": { value: "DIR", help: "Start from this PEFT adapter" },
    resume: { value: "DIR", help: "Resume from a checkpoint-N folder" },
    "checkpoint-every": { value: "N", help: "Write --out/checkpoint-N every N steps" },
    "log-every": {
      value: "N",
      help: `Read the loss back every N steps (default ${TRAINING_DEFAULTS.logEvery})`,
    },
    "grad-checkpoint": { type: "boolean", help: "Recompute activations in backward (less memory)" },
    seed: {
      value: "N",
      help: `Seed of the data split and the run, in [0, 2^32) (default ${TRAINING_DEFAULTS.seed})`,
    },
    "chat-template-kwargs": {
      value: "JSON",
      help: "Chat template variables, e.g. '{\"enable_thinking\": false}'",
    },
    json: { type: "boolean", help: "Print one JSON line per step and a final summary line" },
  },
  notes: "Each step is appended to --out/train_log.jsonl. With no arguments it trains the " +
    "built-in tiny demo model on the bundled sample data when the default model is missing.",
});

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
const log = (message: string) => (flags.json ? console.error : console.log)(message);

const seed = seedFlag(flags.seed, TRAINING_DEFAULTS.seed); // the data split's and the run's
if (flags.model) await requireFolder(flags.model, "config.json", "Model");
let modelSource = dirModelSource(flags.model ?? DEFAULT_MODEL);
let dataPath = flags.data ?? DEFAULT_DATA;
if (!flags.model && !(await exists(DEFAULT_MODEL))) {
  log(`No model at ${DEFAULT_MODEL} (run examples/download.ts to fetch Llama-3.2-1B).`);
  log("Training the built-in tiny demo model (random weights) on the bundled sample data instead.");
  modelSource = await demoModelSource();
  if (!flags.data) dataPath = SAMPLE_DATA;
} else if (!flags.data && !(await exists(DEFAULT_DATA))) {
  fail(
    `No data at ${DEFAULT_DATA}: pass --data FILE (JSON array or JSONL of instruction/output records)`,
  );
}
const out = flags.out ?? "./lora_output";
// Resuming into the run's own folder continues it; anything else must not clobber a folder.
const resumingInOut = flags.resume !== undefined &&
  resolve(flags.resume).startsWith(resolve(out) + sep);
await checkOutFolder(out, (flags.overwrite ?? false) || resumingInOut);

const trainOn = flags["train-on"] ?? TRAINING_DEFAULTS.trainOn;
if (trainOn !== "completion" && trainOn !== "all") {
  fail(`Unknown --train-on ${trainOn}: expected completion or all`);
}
const optimizer = flags.optimizer;
if (optimizer !== undefined && optimizer !== "adamw" && optimizer !== "sgd") {
  fail(`Unknown --optimizer ${optimizer}: expected adamw or sgd`);
}
const scheduler = flags.scheduler;
if (
  scheduler !== undefined && scheduler !== "constant" && scheduler !== "linear" &&
  scheduler !== "cosine"
) {
  fail(`Unknown --scheduler ${scheduler}: expected constant, linear or cosine`);
}
if (flags["init-adapter"]) {
  await requireFolder(flags["init-adapter"], "adapter_config.json", "Adapter");
}
if (flags.resume) await requireFolder(flags.resume, "trainer_state.json", "Checkpoint");

const chatTemplateKwargs = chatTemplateKwargsFlag(flags["chat-template-kwargs"]);

await runCommand(async () => {
  const model = await loadModel(modelSource, { backend: "webgpu" });
  const tokenizer = model.tokenizer;
  const dataset = await loadDatasetFile(dataPath, {
    renderChat: tokenizer.hasChatTemplate ? (m, o) => tokenizer.applyChatTemplate(m, o) : undefined,
    chatTemplateKwargs,
    validation: numberFlag(flags.validation, "validation"),
    seed,
  });
  const maxLength = numberFlag(flags["max-length"], "max-length", TRAINING_DEFAULTS.maxLength);
  const train = tokenizeExamples(tokenizer, dataset.train, { trainOn, maxLength });
  const validation = dataset.validation.length
    ? tokenizeExamples(tokenizer, dataset.validation, { trainOn, maxLength }).examples
    : undefined;
  const lora = resolveLoraConfig({
    r: numberFlag(flags.rank, "rank"),
    alpha: numberFlag(flags.alpha, "alpha"),
    dropout: numberFlag(flags.dropout, "dropout"),
    targetModules: flags.target ? flags.target.split(",").map((t) => t.trim()) : undefined,
    useRslora: flags.rslora,
  });
  log(
    `Model ${model.name} (${model.config.numLayers} layers, hidden ${model.config.hiddenSize}) on ` +
      `${model.gpu?.adapterName}; data ${dataPath}: ${formatCleanReport(dataset.report)}; ` +
      `${train.examples.length} examples ` +
      `(${train.report.truncated} truncated to ${maxLength} tokens, ${train.report.droppedNoLabels} ` +
      `dropped), ${validation?.length ?? 0} held out; trainable parameters ` +
      `${loraParameterCount(model.config, lora).toLocaleString("en-US")}`,
  );

  // Adapters name their base by hub id where it is known, so they load beside the Hub model.
  const baseModel = flags["base-model-id"] ?? await readHubModelId(modelSource) ??
    flags.model ?? modelSource.name;
  const abort = new AbortController();
  const run = trainLora(model, train.examples, {
    lora,
    epochs: numberFlag(flags.epochs, "epochs"),
    maxSteps: numberFlag(flags["max-steps"], "max-steps"),
    batchSize: numberFlag(flags["batch-size"], "batch-size"),
    gradAccum: numberFlag(flags["grad-accum"], "grad-accum"),
    lr: numberFlag(flags.lr, "lr"),
    optimizer,
    weightDecay: numberFlag(flags["weight-decay"], "weight-decay"),
    scheduler,
    warmupSteps: numberFlag(flags["warmup-steps"], "warmup-steps"),
    maxGradNorm: numberFlag(flags["max-grad-norm"], "max-grad-norm"),
    gradCheckpoint: flags["grad-checkpoint"],
    seed,
    initAdapter: flags["init-adapter"]
      ? await readPeftAdapter(dirModelSource(flags["init-adapter"]), model.config)
      : undefined,
    resume: flags.resume
      ? await readTrainingState(dirModelSource(flags.resume), model.config)
      : undefined,
    checkpointEvery: numberFlag(flags["checkpoint-every"], "checkpoint-every"),
    logEvery: numberFlag(flags["log-every"], "log-every"),
    onCheckpoint: (state) =>
      writeFolderAtomic(
        join(out, `checkpoint-${state.step}`),
        serializeTrainingState(state, model.config, baseModel),
      ),
    validation,
    signal: abort.signal,
  });

  const onInterrupt = () => {
    log("\nCancelling after this step (a checkpoint is written)...");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const { result, validation: validationPoints } = await followTraining(run, out, {
    json: flags.json ?? false,
    resumed: flags.resume !== undefined,
  });
  Deno.removeSignalListener("SIGINT", onInterrupt);
  await writeModelFiles(out, serializePeftAdapter(result.adapter, model.config, baseModel));
  await writeFileAtomic(
    join(out, "loss_curve.svg"),
    lossCurveSvg(result.losses, { validation: validationPoints }),
  );
  const summary = {
    out,
    steps: result.steps,
    final_loss: result.losses.at(-1)?.loss ?? null,
    first_loss: result.losses[0]?.loss ?? null,
    validation_loss: result.validationLoss ?? null,
    tokens_per_second: result.tokensPerSecond,
    peak_gpu_bytes: result.peakGpuBytes,
    status: result.status,
    base_model: baseModel,
  };
  if (flags.json) console.log(JSON.stringify({ summary }));
  else {
    console.log(
      `Saved the adapter to ${out} (adapter_config.json, adapter_model.safetensors, README.md, ` +
        `loss_curve.svg, train_log.jsonl); base model ${baseModel}. ${result.steps} steps, loss ${
          summary.first_loss?.toFixed(4)
        } → ` +
        `${summary.final_loss?.toFixed(4)}, ${
          result.tokensPerSecond.toFixed(0)
        } tokens/s, peak GPU ` +
        `${(result.peakGpuBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  model.dispose();
});
