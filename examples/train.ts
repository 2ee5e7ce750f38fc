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
import { join } from "node:path";
import {
  dirModelSource,
  formatCleanReport,
  loadDatasetFile,
  loadModel,
  loraParameterCount,
  lossCurveSvg,
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
  fail,
  numberFlag,
  parseFlags,
  requireFolder,
  runCommand,
} from "./_cli.ts";
import { followTraining } from "./_train_progress.ts";

const DEFAULT_MODEL = "./model_cache/LLM-Research/Llama-3___2-1B";
const DEFAULT_DATA = "./ruozhiba_qa.json";

const USAGE = "Usage: deno run -A examples/train.ts --model DIR --data FILE --out DIR [options]\n" +
  "See the header of examples/train.ts or the README for every option.";

const flags = parseFlags(Deno.args, {
  model: { type: "string" },
  data: { type: "string" },
  out: { type: "string" },
  rank: { type: "string" },
  alpha: { type: "string" },
  dropout: { type: "string" },
  target: { type: "string" },
  rslora: { type: "boolean" },
  epochs: { type: "string" },
  "max-steps": { type: "string" },
  "batch-size": { type: "string" },
  "grad-accum": { type: "string" },
  lr: { type: "string" },
  optimizer: { type: "string" },
  "weight-decay": { type: "string" },
  scheduler: { type: "string" },
  "warmup-steps": { type: "string" },
  "max-length": { type: "string" },
  "train-on": { type: "string" },
  "max-grad-norm": { type: "string" },
  validation: { type: "string" },
  "init-adapter": { type: "string" },
  resume: { type: "string" },
  "checkpoint-every": { type: "string" },
  "log-every": { type: "string" },
  "grad-checkpoint": { type: "boolean" },
  seed: { type: "string" },
  "chat-template-kwargs": { type: "string" },
  json: { type: "boolean" },
}, USAGE);

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
const log = (message: string) => (flags.json ? console.error : console.log)(message);

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

const seed = numberFlag(flags.seed, "seed", TRAINING_DEFAULTS.seed); // the data split's and the run's
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

  const baseModel = flags.model ?? modelSource.name;
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
  const { result, validation: validationPoints } = await followTraining(
    run,
    out,
    flags.json ?? false,
  );
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
  };
  if (flags.json) console.log(JSON.stringify({ summary }));
  else {
    console.log(
      `Saved the adapter to ${out} (adapter_config.json, adapter_model.safetensors, loss_curve.svg, ` +
        `train_log.jsonl). ${result.steps} steps, loss ${summary.first_loss?.toFixed(4)} → ` +
        `${summary.final_loss?.toFixed(4)}, ${
          result.tokensPerSecond.toFixed(0)
        } tokens/s, peak GPU ` +
        `${(result.peakGpuBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  model.dispose();
});
