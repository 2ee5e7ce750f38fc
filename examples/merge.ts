/**
 * Merge a LoRA adapter into its base model (PEFT's `merge_and_unload`) and write the merged
 * model as a Hugging Face folder: config.json, model.safetensors in the base dtype, and the
 * tokenizer and generation files, written atomically (the folder appears whole or not at all).
 *
 *   deno run -A examples/merge.ts --model DIR --adapter DIR --out DIR
 *
 * @module
 */
import { resolve } from "node:path";
import {
  dirModelSource,
  mergedModelFiles,
  readCheckpoint,
  readPeftAdapter,
  writeFolderAtomic,
} from "../mod.ts";
import { fail, parseFlags, requireFolder, runCommand } from "./_cli.ts";

const USAGE = "Usage: deno run -A examples/merge.ts --model DIR --adapter DIR --out DIR";

const flags = parseFlags(Deno.args, {
  model: { type: "string" },
  adapter: { type: "string" },
  out: { type: "string" },
}, USAGE);

for (const name of ["model", "adapter", "out"] as const) {
  if (!flags[name]) fail(`--${name} is required\n\n${USAGE}`);
}
const model = flags.model!, adapterDir = flags.adapter!, out = flags.out!;
await requireFolder(model, "config.json", "Model");
await requireFolder(adapterDir, "adapter_config.json", "Adapter");
if ([model, adapterDir].some((dir) => resolve(dir) === resolve(out))) {
  fail(`--out ${out} must be a new folder, not the model's or the adapter's`);
}
// The output folder is replaced whole: never replace anything but an earlier model folder.
const outEntries = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
if (outEntries.length > 0 && !outEntries.some((e) => e.name === "config.json")) {
  fail(`Output folder ${out} exists and is not a model folder: choose a new or empty folder`);
}

await runCommand(async () => {
  const source = dirModelSource(model);
  const checkpoint = await readCheckpoint(source);
  const adapter = await readPeftAdapter(dirModelSource(adapterDir), checkpoint.config);
  const files = await mergedModelFiles(checkpoint, adapter, source);
  await writeFolderAtomic(out, files);
  const bytes = [...files.values()].reduce((n, f) => n + f.length, 0);
  const dtypes = [...new Set([...checkpoint.tensors.values()].map((t) => t.dtype))].join("/");
  console.log(
    `Merged ${adapterDir} (r ${adapter.config.r}, ${adapter.config.targetModules.join(", ")}) ` +
      `into ${model}: wrote ${out} (${[...files.keys()].join(", ")}; ` +
      `${(bytes / 2 ** 20).toFixed(1)} MiB, ${dtypes})`,
  );
});
