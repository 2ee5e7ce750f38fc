/**
 * Reading a PEFT `adapter_config.json` as real Hub adapters write it: PEFT's defaults for the
 * fields left out, every way of naming the adapted modules (see `peft_targets.ts`), and a
 * refusal that names each field this engine cannot honour, rather than loading an adapter that
 * would silently give other outputs than PEFT's.
 *
 * @module
 */
import { z } from "../deps.ts";
import { type LoraConfig, resolveLoraConfig } from "./lora_config.ts";
import { resolvePeftTargets } from "./peft_targets.ts";

/** PEFT `LoraConfig`'s defaults for fields an `adapter_config.json` may leave out. */
export const PEFT_DEFAULTS = { r: 8, loraAlpha: 8, loraDropout: 0 } as const;

/**
 * `init_lora_weights` values for which PEFT rewrites the base weights (W − s·B·A at
 * initialisation), so the adapter only works on those rewritten weights.
 */
const BASE_REWRITING_INITS = ["pissa", "olora", "corda", "loftq"];

const nameList = z.union([z.array(z.string()), z.string()]).nullish();
const peftSchema = z.looseObject({
  peft_type: z.string().optional(),
  r: z.number().int().positive().optional(),
  lora_alpha: z.number().positive().optional(),
  lora_dropout: z.number().min(0).max(1).optional(),
  target_modules: nameList,
  exclude_modules: nameList,
  layers_to_transform: z.union([z.number().int().min(0), z.array(z.number().int().min(0))])
    .nullish(),
  layers_pattern: z.union([z.string(), z.array(z.string())]).nullish(),
  bias: z.string().optional(),
  lora_bias: z.boolean().optional(),
  use_rslora: z.boolean().optional(),
  use_dora: z.boolean().optional(),
  fan_in_fan_out: z.boolean().optional(),
  init_lora_weights: z.union([z.boolean(), z.string()]).optional(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
  modules_to_save: z.array(z.string()).nullish(),
  layer_replication: z.unknown().optional(),
  target_parameters: z.array(z.string()).nullish(),
  trainable_token_indices: z.unknown().optional(),
});

type PeftJson = z.infer<typeof peftSchema>;

/** Every field of `c` this engine cannot apply, each named with its value. */
function unsupportedFields(c: PeftJson): string[] {
  const refused: string[] = [];
  const nonEmpty = (v: Record<string, unknown> | null | undefined) =>
    v !== null && v !== undefined && Object.keys(v).length > 0;
  if (c.peft_type !== undefined && c.peft_type !== "LORA") refused.push(`peft_type ${c.peft_type}`);
  if (c.use_dora) refused.push("use_dora true");
  if (c.fan_in_fan_out) refused.push("fan_in_fan_out true");
  if (c.bias !== undefined && c.bias !== "none") refused.push(`bias ${JSON.stringify(c.bias)}`);
  if (c.lora_bias) refused.push("lora_bias true (a trained bias on lora_B)");
  const init = c.init_lora_weights;
  if (typeof init === "string" && BASE_REWRITING_INITS.some((m) => init.startsWith(m))) {
    refused.push(
      `init_lora_weights ${JSON.stringify(init)} (PEFT rewrites the base weights for it, so ` +
        `the adapter gives wrong outputs on the original model)`,
    );
  }
  if (nonEmpty(c.rank_pattern)) refused.push("a non-empty rank_pattern");
  if (nonEmpty(c.alpha_pattern)) refused.push("a non-empty alpha_pattern");
  if (c.modules_to_save?.length) refused.push(`modules_to_save ${c.modules_to_save.join(", ")}`);
  if (c.layer_replication !== undefined && c.layer_replication !== null) {
    refused.push("layer_replication");
  }
  if (c.target_parameters?.length) {
    refused.push(`target_parameters ${c.target_parameters.join(", ")}`);
  }
  if (c.trainable_token_indices !== undefined && c.trainable_token_indices !== null) {
    refused.push("trainable_token_indices");
  }
  const patterns = c.layers_pattern === null || c.layers_pattern === undefined
    ? []
    : [c.layers_pattern].flat();
  if (patterns.some((p) => p !== "layers")) {
    refused.push(`layers_pattern ${JSON.stringify(c.layers_pattern)} (this model's is "layers")`);
  }
  return refused;
}

/**
 * Parses a PEFT `adapter_config.json` for a model of `numLayers` layers, refusing by name, all
 * in one error, the features this engine lacks. Missing `r` and `lora_alpha` default to PEFT's
 * 8 and 8; without `target_modules`, the adapter targets `defaultTargets`: PEFT's own default
 * for the model's family (`ARCHITECTURES[…].peftTargetModules`, q_proj and v_proj).
 *
 * @example
 * ```ts
 * const json = JSON.parse(await Deno.readTextFile("adapter/adapter_config.json"));
 * const lora = parsePeftAdapterConfig(json, 16); // r, alpha, targets and layers
 * ```
 */
export function parsePeftAdapterConfig(
  json: unknown,
  numLayers: number,
  where = "adapter_config.json",
  defaultTargets: readonly string[] = ["q_proj", "v_proj"],
): LoraConfig {
  const parsed = peftSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid ${where}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const c = parsed.data;
  const refused = unsupportedFields(c);
  if (refused.length > 0) throw new Error(`Unsupported adapter in ${where}: ${refused.join("; ")}`);
  const layers = c.layers_to_transform;
  const adapted = resolvePeftTargets(
    {
      targetModules: c.target_modules ?? defaultTargets,
      excludeModules: c.exclude_modules ?? null,
      layersToTransform: layers === null || layers === undefined ? null : [layers].flat(),
    },
    numLayers,
    where,
  );
  return resolveLoraConfig({
    r: c.r ?? PEFT_DEFAULTS.r,
    alpha: c.lora_alpha ?? PEFT_DEFAULTS.loraAlpha,
    dropout: c.lora_dropout ?? PEFT_DEFAULTS.loraDropout,
    useRslora: c.use_rslora ?? false,
    ...adapted,
  });
}
