/**
 * LoRA settings and their PEFT `adapter_config.json` form.
 *
 * @module
 */
import { LORA_DEFAULTS } from "../defaults.ts";
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
  /**
   * The adapted layers, ascending (PEFT's `layers_to_transform`); absent when every layer is
   * adapted.
   */
  layers?: readonly number[];
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
  /** Only these layers (indices from 0); default every layer. */
  layers?: readonly number[];
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
    ...(options.layers === undefined ? {} : { layers: resolveLayers(options.layers) }),
  };
}

function resolveLayers(layers: readonly number[]): number[] {
  const bad = layers.filter((l) => !Number.isInteger(l) || l < 0);
  if (bad.length > 0) throw new RangeError(`LoRA layers ${bad.join(", ")} are not layer indices`);
  if (layers.length === 0) throw new RangeError("LoRA layers are empty");
  return [...new Set(layers)].sort((a, b) => a - b);
}

/**
 * The layers `lora` adapts in a model of `numLayers` layers: its `layers`, or all of them.
 *
 * @example
 * ```ts
 * adaptedLayers(resolveLoraConfig({ layers: [3, 1] }), 16); // [1, 3]
 * adaptedLayers(resolveLoraConfig(), 2); // [0, 1]
 * ```
 */
export function adaptedLayers(lora: LoraConfig, numLayers: number): readonly number[] {
  if (lora.layers === undefined) return Array.from({ length: numLayers }, (_, l) => l);
  const outside = lora.layers.filter((l) => l >= numLayers);
  if (outside.length > 0) {
    throw new RangeError(
      `LoRA layers ${outside.join(", ")} are outside the model's ${numLayers} layers`,
    );
  }
  return lora.layers;
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
    layers_to_transform: config.layers ?? null,
    layers_pattern: null,
    revision: null,
  };
}
