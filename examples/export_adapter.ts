/**
 * Export a PEFT adapter for use elsewhere: checked against its base model's config, written
 * again with `base_model_name_or_path` set to the base model's hub id (--base-model-id, else
 * the id download.ts recorded) and PEFT's README.md model card.
 *
 * --for-llama-cpp also makes it exact for llama.cpp's `convert_lora_to_gguf.py`, which ignores
 * `use_rslora`: an rsLoRA adapter (scale alpha/√r) is written as the equivalent plain adapter
 * with lora_alpha = alpha·√r (scale alpha·√r/r = alpha/√r), so it does not run √r too weak.
 *
 *   deno run -A examples/export_adapter.ts --adapter DIR --model DIR --out DIR
 *     [--for-llama-cpp] [--base-model-id ID] [--overwrite] [--json]
 *
 * Then, in llama.cpp: `python convert_lora_to_gguf.py OUT --base-model-id ID` (or `--base DIR`).
 *
 * @module
 */
import { join } from "node:path";
import {
  dirModelSource,
  isHubModelId,
  parseModelConfig,
  readHubModelId,
  readPeftAdapter,
  serializePeftAdapter,
  writeFolderAtomic,
} from "../mod.ts";
import { checkOutFolder, requireFolder, runCommand } from "./_cli.ts";
import { parseCommand } from "./_flags.ts";

const command = {
  name: "export_adapter",
  summary: "Export a PEFT adapter with its base model's hub id and model card, " +
    "optionally made exact for llama.cpp.",
  usage: "--adapter DIR --model DIR --out DIR [options]",
  flags: {
    adapter: { value: "DIR", required: true, help: "The PEFT adapter folder" },
    model: {
      value: "DIR",
      required: true,
      help: "Its base model folder (config.json is read to check the adapter)",
    },
    out: {
      value: "DIR",
      required: true,
      help: "Where the exported adapter goes: a new or empty folder",
    },
    overwrite: { type: "boolean", help: "Allow a non-empty --out" },
    "for-llama-cpp": {
      type: "boolean",
      help: "Write rsLoRA as the equivalent lora_alpha = alpha·√r without use_rslora",
    },
    "base-model-id": {
      value: "ID",
      help: "The base model's hub id (default: the id download.ts recorded, else the adapter's)",
    },
    json: { type: "boolean", help: "Print one JSON object describing the export" },
  },
} as const;
const flags = parseCommand(Deno.args, command);

const { adapter: adapterDir, model: modelDir, out } = flags;
await requireFolder(adapterDir, "adapter_config.json", "Adapter");
await requireFolder(modelDir, "config.json", "Model");
await checkOutFolder(out, flags.overwrite ?? false);

await runCommand(async () => {
  const modelSource = dirModelSource(modelDir);
  const config = parseModelConfig(
    JSON.parse(await Deno.readTextFile(join(modelDir, "config.json"))),
  );
  const adapterSource = dirModelSource(adapterDir);
  const adapter = await readPeftAdapter(adapterSource, config);
  const previous = JSON.parse(
    new TextDecoder().decode(await adapterSource.read("adapter_config.json")),
  ).base_model_name_or_path;
  const baseModel = flags["base-model-id"] ?? await readHubModelId(modelSource) ??
    (typeof previous === "string" ? previous : modelDir);
  const { r, alpha, useRslora } = adapter.config;
  const converted = flags["for-llama-cpp"] && useRslora;
  const exported = converted
    ? { ...adapter, config: { ...adapter.config, alpha: alpha * Math.sqrt(r), useRslora: false } }
    : adapter;
  await writeFolderAtomic(out, serializePeftAdapter(exported, config, baseModel));
  const hub = isHubModelId(baseModel);
  if (flags.json) {
    console.log(JSON.stringify({
      out,
      base_model: baseModel,
      base_model_is_hub_id: hub,
      rank: r,
      lora_alpha: exported.config.alpha,
      use_rslora: exported.config.useRslora,
      rslora_converted: converted,
    }));
    return;
  }
  console.log(
    `Exported ${adapterDir} to ${out} (base model ${baseModel}` +
      (converted ? `; rsLoRA alpha ${alpha} written as lora_alpha ${exported.config.alpha}` : "") +
      ")",
  );
  if (flags["for-llama-cpp"]) {
    console.log(
      hub
        ? `Convert with: python convert_lora_to_gguf.py ${out} --base-model-id ${baseModel}`
        : `The base model is no hub id: convert with ` +
          `python convert_lora_to_gguf.py ${out} --base ${modelDir}, or pass --base-model-id`,
    );
  }
});
