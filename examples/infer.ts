/**
 * Generate text with a Llama checkpoint, optionally with a LoRA adapter (unmerged, or merged
 * into the weights first with --merge).
 *
 *   deno run -A examples/infer.ts --model DIR (--prompt TEXT | --raw TEXT) [--adapter DIR]
 *     [--merge] [--chat [--chat-template-kwargs JSON]] [--max-tokens 100] [--temperature 0.7]
 *     [--top-p 1] [--top-k 0] [--seed 42] [--backend auto|webgpu|cpu] [--kv-cache f32|f16] [--json]
 *
 * --prompt applies the `Human: {prompt}\nAssistant:` template, or with --chat the model's chat
 * template to the prompt as a user message (its variables set by --chat-template-kwargs, e.g.
 * `'{"enable_thinking": false}'` for Qwen3); --raw applies no template. --kv-cache f16
 * stores the GPU KV cache in f16 (half the memory). Without --json
 * the text streams to the terminal; with it one JSON object is printed.
 *
 * @module
 */
import {
  dirModelSource,
  isKvCacheDtype,
  loadModel,
  memoryModelSource,
  mergedModelFiles,
  type PromptTemplate,
  readCheckpoint,
  readPeftAdapter,
} from "../mod.ts";
import {
  chatTemplateKwargsFlag,
  fail,
  numberFlag,
  requireFolder,
  runCommand,
  seedFlag,
} from "./_cli.ts";
import { parseCommand, usageLine } from "./_flags.ts";

const command = {
  name: "infer",
  summary: "Generate text with a model, optionally with a LoRA adapter (unmerged or merged).",
  usage: "--model DIR (--prompt TEXT | --raw TEXT) [options]",
  flags: {
    model: { value: "DIR", required: true, help: "The model folder" },
    prompt: { value: "TEXT", help: "A prompt, in the Human:/Assistant: template (or --chat)" },
    raw: { value: "TEXT", help: "Text given to the model as it is, with no template" },
    adapter: { value: "DIR", help: "A PEFT adapter folder to apply" },
    merge: { type: "boolean", help: "Merge the adapter into the weights first" },
    chat: { type: "boolean", help: "Apply the model's chat template to --prompt" },
    "chat-template-kwargs": { value: "JSON", help: "Chat template variables (with --chat)" },
    "max-tokens": { value: "N", help: "Most tokens to generate (default 100)" },
    temperature: { value: "T", help: "Sampling temperature, 0 greedy (default 0.7)" },
    "top-p": { value: "P", help: "Nucleus sampling mass (default 1)" },
    "top-k": { value: "K", help: "Sample from the K likeliest tokens, 0 off (default 0)" },
    seed: { value: "N", help: "Sampling seed in [0, 2^32) (default 42)" },
    backend: { value: "auto|webgpu|cpu", help: "Where to compute (default auto)" },
    "kv-cache": { value: "f32|f16", help: "KV cache dtype on the GPU (default f32)" },
    json: { type: "boolean", help: "Print one JSON object instead of streaming the text" },
  },
} as const;
const USAGE = usageLine(command);
const flags = parseCommand(Deno.args, command);

if ((flags.prompt === undefined) === (flags.raw === undefined)) {
  fail(`Give exactly one of --prompt or --raw\n\n${USAGE}`);
}
if (flags.merge && !flags.adapter) fail("--merge needs --adapter");
if (flags.chat && flags.raw !== undefined) {
  fail("--chat needs --prompt (--raw applies no template)");
}
if (flags["chat-template-kwargs"] !== undefined && !flags.chat) {
  fail("--chat-template-kwargs needs --chat");
}
const template: PromptTemplate = flags.raw !== undefined ? "none" : flags.chat ? "chat" : "default";
const chatTemplateKwargs = chatTemplateKwargsFlag(flags["chat-template-kwargs"]);
const backend = flags.backend ?? "auto";
if (!["auto", "webgpu", "cpu"].includes(backend)) {
  fail(`Unknown --backend ${backend}: expected auto, webgpu or cpu`);
}

const kvCacheDtype = flags["kv-cache"];
if (kvCacheDtype !== undefined && !isKvCacheDtype(kvCacheDtype)) {
  fail(`Unknown --kv-cache ${kvCacheDtype}: expected f32 or f16`);
}

const seed = seedFlag(flags.seed, 42);
await requireFolder(flags.model, "config.json", "Model");
if (flags.adapter) await requireFolder(flags.adapter, "adapter_config.json", "Adapter");

await runCommand(async () => {
  const source = dirModelSource(flags.model);
  let model;
  if (flags.merge) {
    const checkpoint = await readCheckpoint(source);
    const adapter = await readPeftAdapter(dirModelSource(flags.adapter!), checkpoint.config);
    const files = await mergedModelFiles(checkpoint, adapter, source);
    model = await loadModel(memoryModelSource(`${flags.model} + ${flags.adapter}`, files), {
      backend: backend as "auto",
      kvCacheDtype,
    });
  } else {
    model = await loadModel(source, { backend: backend as "auto", kvCacheDtype });
    if (flags.adapter) {
      model.addAdapter(
        "adapter",
        await readPeftAdapter(dirModelSource(flags.adapter), model.config),
      );
    }
  }

  const options = {
    template,
    chatTemplateKwargs,
    adapter: flags.adapter && !flags.merge ? "adapter" : null,
    maxTokens: numberFlag(flags["max-tokens"], "max-tokens", 100),
    temperature: numberFlag(flags.temperature, "temperature", 0.7),
    topP: numberFlag(flags["top-p"], "top-p"),
    topK: numberFlag(flags["top-k"], "top-k"),
    seed,
  };
  const prompt = (flags.prompt ?? flags.raw)!;
  if (flags.json) {
    const result = await model.generate(prompt, options);
    console.log(JSON.stringify({
      text: result.text,
      tokens: result.tokens,
      prompt_tokens: result.promptTokens,
      completion_tokens: result.completionTokens,
      finish_reason: result.finishReason,
    }));
  } else {
    const encoder = new TextEncoder();
    const stream = model.stream(prompt, options);
    for await (const delta of stream) await Deno.stdout.write(encoder.encode(delta));
    await Deno.stdout.write(encoder.encode("\n"));
  }
  model.dispose();
});
