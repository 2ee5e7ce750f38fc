/**
 * Merge a LoRA adapter into its base model (PEFT's `merge_and_unload`) and write the merged
 * model as a Hugging Face folder: config.json, the weights in the base dtype (one
 * model.safetensors, or shards of at most --max-shard-size with model.safetensors.index.json),
 * the tokenizer, chat template and generation files, and a README.md naming the base model.
 * The weights are merged and written one shard at a time, into a folder that appears whole or
 * not at all.
 *
 *   deno run -A examples/merge.ts --model DIR --adapter DIR --out DIR [--max-shard-size 5GB]
 *     [--base-model-id ID] [--overwrite] [--json]
 *
 * @module
 */
import { resolve } from "node:path";
import {
  dirModelSource,
  mergedModelCard,
  parseByteSize,
  readCheckpoint,
  readHubModelId,
  readPeftAdapter,
  writeMergedModel,
} from "../mod.ts";
import { checkOutFolder, fail, requireFolder, runCommand } from "./_cli.ts";
import { parseCommand } from "./_flags.ts";

const command = {
  name: "merge",
  summary: "Merge a LoRA adapter into its base model and write a Hugging Face model folder.",
  usage: "--model DIR --adapter DIR --out DIR [options]",
  flags: {
    model: { value: "DIR", required: true, help: "The base model folder" },
    adapter: { value: "DIR", required: true, help: "The PEFT adapter folder" },
    out: { value: "DIR", required: true, help: "The merged model folder: new or empty" },
    overwrite: { type: "boolean", help: "Replace a non-empty --out that holds a model" },
    "max-shard-size": {
      value: "SIZE",
      help: "Largest weights file, as transformers' max_shard_size (default 5GB)",
    },
    "base-model-id": {
      value: "ID",
      help: "Hub id of the base model for README.md (default: the id download.ts recorded)",
    },
    json: { type: "boolean", help: "Print one JSON object describing what was written" },
  },
} as const;
const flags = parseCommand(Deno.args, command);

const { model, adapter: adapterDir, out } = flags;
let maxShardBytes = 5e9;
try {
  if (flags["max-shard-size"] !== undefined) maxShardBytes = parseByteSize(flags["max-shard-size"]);
} catch (e) {
  fail(`--max-shard-size: ${(e as Error).message}`);
}
await requireFolder(model, "config.json", "Model");
await requireFolder(adapterDir, "adapter_config.json", "Adapter");
if ([model, adapterDir].some((dir) => resolve(dir) === resolve(out))) {
  fail(`--out ${out} must be a new folder, not the model's or the adapter's`);
}
await checkOutFolder(out, flags.overwrite ?? false);
// The output folder is replaced whole: never replace anything but an earlier model folder.
const outEntries = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
if (outEntries.length > 0 && !outEntries.some((e) => e.name === "config.json")) {
  fail(`Output folder ${out} exists and is not a model folder: choose a new or empty folder`);
}

await runCommand(async () => {
  const source = dirModelSource(model);
  const checkpoint = await readCheckpoint(source);
  const adapter = await readPeftAdapter(dirModelSource(adapterDir), checkpoint.config);
  const baseModel = flags["base-model-id"] ?? await readHubModelId(source);
  const card = mergedModelCard(adapter.config, baseModel ?? model);
  const files = await writeMergedModel(out, checkpoint, adapter, source, {
    maxShardBytes,
    extraFiles: new Map([["README.md", new TextEncoder().encode(card)]]),
  });
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const dtypes = [...new Set([...checkpoint.tensors.values()].map((t) => t.dtype))];
  if (flags.json) {
    console.log(JSON.stringify({
      out,
      model,
      adapter: adapterDir,
      base_model: baseModel,
      rank: adapter.config.r,
      target_modules: adapter.config.targetModules,
      dtypes,
      bytes,
      files: files.map(({ path, size }) => ({ path, bytes: size })),
    }));
    return;
  }
  console.log(
    `Merged ${adapterDir} (r ${adapter.config.r}, ${adapter.config.targetModules.join(", ")}) ` +
      `into ${model}: wrote ${out} (${files.map((f) => f.path).join(", ")}; ` +
      `${(bytes / 2 ** 20).toFixed(1)} MiB, ${dtypes.join("/")})`,
  );
});
