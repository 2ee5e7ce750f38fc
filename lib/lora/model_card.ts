/**
 * The `README.md` model card PEFT writes beside an adapter: YAML front matter with
 * `library_name: peft` and `base_model` (when the base is a hub id), then how it was made and
 * how to load it. The Hub reads the front matter to link the adapter to its base model.
 *
 * @module
 */
import { type LoraConfig, loraScaleOf } from "./lora_config.ts";

/**
 * Whether `name` looks like a hub model id (`owner/name`) rather than a local path: one slash,
 * no leading `.`, `/` or `~`, no backslash or drive letter.
 *
 * @example
 * ```ts
 * isHubModelId("meta-llama/Llama-3.2-1B"); // true
 * isHubModelId("./model_cache/LLM-Research/Llama-3___2-1B"); // false
 * ```
 */
export function isHubModelId(name: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(name) && !name.includes("..");
}

/**
 * The adapter's model card: front matter (`base_model` only for a hub id, `library_name: peft`,
 * tags) and a short description of its LoRA settings.
 *
 * @example
 * ```ts
 * const card = adapterModelCard(resolveLoraConfig(), "meta-llama/Llama-3.2-1B");
 * card.startsWith("---\nbase_model: meta-llama/Llama-3.2-1B\nlibrary_name: peft\n"); // true
 * ```
 */
export function adapterModelCard(config: LoraConfig, baseModel: string): string {
  const hub = isHubModelId(baseModel);
  const layers = config.layers === undefined ? "every layer" : `layers ${config.layers.join(", ")}`;
  return [
    "---",
    ...(hub ? [`base_model: ${baseModel}`] : []),
    "library_name: peft",
    "tags:",
    "- lora",
    "- webgpu-lora",
    "---",
    "",
    `# LoRA adapter${hub ? ` for ${baseModel}` : ""}`,
    "",
    `Trained with webgpu-lora. Rank ${config.r}, lora_alpha ${config.alpha}` +
    `${config.useRslora ? " with rsLoRA" : ""} (scale ${loraScaleOf(config)}), on ` +
    `${config.targetModules.join(", ")} of ${layers}.`,
    "",
    "```python",
    "from peft import AutoPeftModelForCausalLM",
    'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
    "```",
    ...(config.useRslora
      ? [
        "",
        "llama.cpp ignores `use_rslora`: export with `examples/export_adapter.ts --for-llama-cpp`, " +
        "which writes the equivalent lora_alpha = alpha·√r without rsLoRA.",
      ]
      : []),
    ...(hub ? [] : ["", `Base model: ${baseModel} (a local folder; not a hub id).`]),
    "",
  ].join("\n");
}

/**
 * The card of a model with an adapter merged in: `base_model` (a hub id only) and a line on
 * the adapter; `baseModel` is the hub id when known, else the base folder.
 *
 * @example
 * ```ts
 * mergedModelCard(adapter.config, "meta-llama/Llama-3.2-1B"); // "---\nbase_model: meta-llama/..."
 * ```
 */
export function mergedModelCard(config: LoraConfig, baseModel: string): string {
  return [
    "---",
    ...(isHubModelId(baseModel) ? [`base_model: ${baseModel}`] : []),
    "tags:",
    "- lora-merged",
    "- webgpu-lora",
    "---",
    "",
    `${baseModel} with a LoRA adapter (r ${config.r}, lora_alpha ${config.alpha}, ` +
    `${config.targetModules.join(", ")}) merged into its weights by webgpu-lora.`,
    "",
  ].join("\n");
}
