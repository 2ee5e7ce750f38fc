/**
 * LoRA settings and their PEFT `adapter_config.json` form.
 *
 * @module
 */
import { LORA_DEFAULTS } from "../defaults.ts";
import { z } from "../deps.ts";
import { type Projection, PROJECTIONS } from "../model/names.ts";

/** LoRA hyper-parameters, as PEFT's `LoraConfig`. */
export interface LoraConfig {
  /** Rank r. */
  r: number;
  /** lora_alpha. */
  alpha: number;
  /** Dropout on the adapter's input during training. */
  dropout: number;
  /** The adapted projections. */
  targetModules: Projection[];
  /** rsLoRA: scale alpha/√r instead of alpha/r. */
  useRslora: boolean;
}

/** User-facing LoRA options: target modules may be `"all-linear"`. */
export interface LoraOptions {
  /** Rank; default 16. */
  r?: number;
  /** lora_alpha; default 32. */
  alpha?: number;
  /** Dropout; default 0.1. */
  dropout?: number;
  /** Projections or "all-linear"; default q_proj, k_proj, v_proj. */
  targetModules?: readonly string[] | "all-linear";
  /** rsLoRA scaling; default false. */
  useRslora?: boolean;
}

/**
 * Validates options and fills in the defaults of the user's current PEFT script.
 *
 * @example
 * ```ts
 * resolveLoraConfig(); // r 16, alpha 32, dropout 0.1, q_proj/k_proj/v_proj
 * resolveLoraConfig({ r: 8, targetModules: "all-linear" }).targetModules.length; // 7
 * ```
 */
export function resolveLoraConfig(options: LoraOptions = {}): LoraConfig {
  const r = options.r ?? LORA_DEFAULTS.r;
  const alpha = options.alpha ?? LORA_DEFAULTS.alpha;
  const dropout = options.dropout ?? LORA_DEFAULTS.dropout;
  if (!Number.isInteger(r) || r < 1) {
    throw new RangeError(`LoRA rank ${r} must be a positive integer`);
  }
  if (!(alpha > 0)) throw new RangeError(`LoRA alpha ${alpha} must be positive`);
  if (!(dropout >= 0 && dropout < 1)) {
    throw new RangeError(`LoRA dropout ${dropout} must be in [0, 1)`);
  }
  return {
    r,
    alpha,
    dropout,
    targetModules: resolveTargets(options.targetModules ?? LORA_DEFAULTS.targetModules),
    useRslora: options.useRslora ?? LORA_DEFAULTS.useRslora,
  };
}

function resolveTargets(targets: readonly string[] | "all-linear"): Projection[] {
  if (targets === "all-linear" || (targets.length === 1 && targets[0] === "all-linear")) {
    return [...PROJECTIONS];
  }
  const unknown = targets.filter((t) => !(PROJECTIONS as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new RangeError(
      `Unknown target modules ${unknown.map((t) => JSON.stringify(t)).join(", ")}: ` +
        `expected any of ${PROJECTIONS.join(", ")} or "all-linear"`,
    );
  }
  if (targets.length === 0) throw new RangeError("Target modules are empty");
  return PROJECTIONS.filter((p) => targets.includes(p));
}

/**
 * The adapter's scale: alpha/r, or alpha/√r with rsLoRA.
 *
 * @example
 * ```ts
 * loraScaleOf(resolveLoraConfig({ r: 16, alpha: 32 })); // 2
 * loraScaleOf(resolveLoraConfig({ r: 16, alpha: 32, useRslora: true })); // 8
 * ```
 */
export function loraScaleOf(config: LoraConfig): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

/** The `adapter_config.json` PEFT writes for this config. */
export function peftAdapterConfig(config: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: config.targetModules,
    bias: "none",
    use_rslora: config.useRslora,
    use_dora: false,
    fan_in_fan_out: false,
    inference_mode: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
  };
}

const peftSchema = z.looseObject({
  peft_type: z.string().optional(),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).max(1).optional(),
  target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
  bias: z.string().optional(),
  use_rslora: z.boolean().optional(),
  use_dora: z.boolean().optional(),
  fan_in_fan_out: z.boolean().optional(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
  modules_to_save: z.array(z.string()).nullish(),
});

/**
 * Parses a PEFT `adapter_config.json`, refusing by name, all in one error, the features this
 * engine lacks. Without `target_modules`, the adapter targets `defaultTargets`: PEFT's own
 * default for the model's family (`ARCHITECTURES[…].peftTargetModules`, q_proj and v_proj).
 */
export function parsePeftAdapterConfig(
  json: unknown,
  where = "adapter_config.json",
  defaultTargets: readonly string[] = ["q_proj", "v_proj"],
): LoraConfig {
  const parsed = peftSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid ${where}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const c = parsed.data;
  const refused: string[] = [];
  if (c.peft_type !== undefined && c.peft_type !== "LORA") refused.push(`peft_type ${c.peft_type}`);
  if (c.use_dora) refused.push("use_dora true");
  if (c.fan_in_fan_out) refused.push("fan_in_fan_out true");
  if (c.bias !== undefined && c.bias !== "none") refused.push(`bias ${JSON.stringify(c.bias)}`);
  if (c.rank_pattern && Object.keys(c.rank_pattern).length) {
    refused.push("a non-empty rank_pattern");
  }
  if (c.alpha_pattern && Object.keys(c.alpha_pattern).length) {
    refused.push("a non-empty alpha_pattern");
  }
  if (c.modules_to_save?.length) refused.push(`modules_to_save ${c.modules_to_save.join(", ")}`);
  if (refused.length > 0) throw new Error(`Unsupported adapter in ${where}: ${refused.join("; ")}`);
  const targets = typeof c.target_modules === "string"
    ? (c.target_modules === "all-linear" ? "all-linear" : [c.target_modules])
    : c.target_modules ?? defaultTargets;
  return resolveLoraConfig({
    r: c.r,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout ?? 0,
    targetModules: targets,
    useRslora: c.use_rslora ?? false,
  });
}
