/**
 * Evaluate a model, with or without a LoRA adapter, on an instruction/output data set: the
 * mean loss over label tokens (the same tokens training learns from) and its perplexity.
 *
 *   deno run -A examples/eval.ts --model DIR [--adapter DIR] --data FILE
 *     [--train-on completion|all] [--max-length 512] [--batch-size 1]
 *     [--chat-template-kwargs JSON] [--json]
 *
 * Chat records are rendered as training renders them: with the model's chat template, whose
 * variables `--chat-template-kwargs` sets (e.g. `'{"enable_thinking": false}'` for Qwen3).
 *
 * With --json it prints one object `{"loss","tokens","perplexity"}`.
 *
 * @module
 */
import {
  dirModelSource,
  evaluateModel,
  loadDatasetFile,
  loadModel,
  readPeftAdapter,
  tokenizeExamples,
  TRAINING_DEFAULTS,
} from "../mod.ts";
import { chatTemplateKwargsFlag, fail, numberFlag, requireFolder, runCommand } from "./_cli.ts";
import { parseCommand } from "./_flags.ts";

const command = {
  name: "eval",
  summary: "Evaluate a model, with or without a LoRA adapter: mean label loss and perplexity.",
  usage: "--model DIR [--adapter DIR] --data FILE [options]",
  flags: {
    model: { value: "DIR", required: true, help: "The model folder" },
    adapter: { value: "DIR", help: "A PEFT adapter folder to apply" },
    data: { value: "FILE", required: true, help: "JSON array or JSONL of records" },
    "train-on": {
      value: "completion|all",
      help: `Which tokens count, as in training (default ${TRAINING_DEFAULTS.trainOn})`,
    },
    "max-length": {
      value: "N",
      help: `Truncate to N tokens (default ${TRAINING_DEFAULTS.maxLength})`,
    },
    "batch-size": {
      value: "N",
      help: `Examples per batch (default ${TRAINING_DEFAULTS.batchSize})`,
    },
    "chat-template-kwargs": { value: "JSON", help: "Chat template variables for chat records" },
    json: { type: "boolean", help: 'Print one JSON object {"loss","tokens","perplexity"}' },
  },
} as const;
const flags = parseCommand(Deno.args, command);

const trainOn = flags["train-on"] ?? TRAINING_DEFAULTS.trainOn;
if (trainOn !== "completion" && trainOn !== "all") {
  fail(`Unknown --train-on ${trainOn}: expected completion or all`);
}
const maxLength = numberFlag(flags["max-length"], "max-length", TRAINING_DEFAULTS.maxLength);
const batchSize = numberFlag(flags["batch-size"], "batch-size", TRAINING_DEFAULTS.batchSize);
const chatTemplateKwargs = chatTemplateKwargsFlag(flags["chat-template-kwargs"]);
await requireFolder(flags.model, "config.json", "Model");
if (flags.adapter) await requireFolder(flags.adapter, "adapter_config.json", "Adapter");

await runCommand(async () => {
  const model = await loadModel(dirModelSource(flags.model), { backend: "webgpu" });
  const adapter = flags.adapter
    ? await readPeftAdapter(dirModelSource(flags.adapter), model.config)
    : undefined;
  const tokenizer = model.tokenizer;
  const data = await loadDatasetFile(flags.data, {
    renderChat: tokenizer.hasChatTemplate ? (m, o) => tokenizer.applyChatTemplate(m, o) : undefined,
    chatTemplateKwargs,
  });
  const { examples, report } = tokenizeExamples(tokenizer, data.train, { trainOn, maxLength });
  const result = await evaluateModel(model, examples, { adapter, batchSize });
  model.dispose();
  if (flags.json) {
    console.log(
      JSON.stringify({ loss: result.loss, tokens: result.tokens, perplexity: result.perplexity }),
    );
    return;
  }
  console.log(
    `${flags.adapter ? `Adapter ${flags.adapter} on ` : ""}${flags.model}, ${flags.data}: ` +
      `loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(2)} over ` +
      `${result.tokens} label tokens of ${report.kept} examples (${report.truncated} truncated ` +
      `to ${maxLength} tokens, ${report.droppedNoLabels} dropped)`,
  );
});
