/**
 * Which projections of which layers a PEFT `adapter_config.json` adapts, by PEFT's own rules
 * (`check_target_module_exists`): `target_modules` as a list (a module matches when its name
 * equals an entry or ends with `.` + entry, then `layers_to_transform` filters by layer) or as
 * a regular expression matched against the whole module name; `exclude_modules` likewise. Module
 * names are the base model's, e.g. `model.layers.3.self_attn.q_proj`.
 *
 * @module
 */
import { type Projection, PROJECTIONS, projectionWeightName } from "../model/names.ts";

/** The targeting fields of an `adapter_config.json`. */
export interface PeftTargets {
  /** A list of names or name suffixes, a regular expression, or `"all-linear"`. */
  targetModules: readonly string[] | string;
  /** Modules left out: a list of names or suffixes, or a regular expression; null for none. */
  excludeModules: readonly string[] | string | null;
  /** Only these layers (with a list `targetModules`); null for every layer. */
  layersToTransform: readonly number[] | null;
}

/** The adapted projections and layers (undefined: every layer). */
export interface AdaptedModules {
  /** The adapted projections, in model order. */
  targetModules: Projection[];
  /** The adapted layers, ascending, or undefined when every layer is adapted. */
  layers?: number[];
}

/** The base model's name of a projection module, as PEFT matches it. */
export function peftModuleName(layer: number, projection: Projection): string {
  return projectionWeightName(layer, projection).replace(/\.weight$/, "");
}

/** A regular expression from `adapter_config.json`, matched against whole names (`re.fullmatch`). */
function fullMatcher(pattern: string, field: string, where: string): (name: string) => boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch (e) {
    throw new Error(
      `Invalid ${where}: ${field} ${JSON.stringify(pattern)}: ${(e as Error).message}`,
    );
  }
  return (name) => re.test(name);
}

/** PEFT's list rule: the name itself, or a name ending with `.` + an entry. */
function suffixMatcher(entries: readonly string[]): (name: string) => boolean {
  return (name) => entries.some((e) => name === e || name.endsWith(`.${e}`));
}

/**
 * The modules `targets` adapts in a model of `numLayers` layers, which must be the same
 * projections on every adapted layer (this engine's layout); anything else is refused with
 * the reason.
 *
 * @example
 * ```ts
 * resolvePeftTargets({
 *   targetModules: ".*\\.layers\\.[01]\\..*\\.(q_proj|v_proj)",
 *   excludeModules: null,
 *   layersToTransform: null,
 * }, 16); // { targetModules: ["q_proj", "v_proj"], layers: [0, 1] }
 * ```
 */
export function resolvePeftTargets(
  targets: PeftTargets,
  numLayers: number,
  where = "adapter_config.json",
): AdaptedModules {
  const { targetModules, excludeModules, layersToTransform } = targets;
  const isRegex = typeof targetModules === "string" && targetModules !== "all-linear" &&
    !(PROJECTIONS as readonly string[]).includes(targetModules);
  if (isRegex && layersToTransform !== null) {
    throw new Error(
      `Invalid ${where}: layers_to_transform cannot be used with a regular expression ` +
        `target_modules (PEFT refuses it too)`,
    );
  }
  const listed = targetModules === "all-linear"
    ? [...PROJECTIONS]
    : typeof targetModules === "string"
    ? [targetModules]
    : targetModules;
  const suffix = suffixMatcher(listed);
  const targeted = isRegex
    ? fullMatcher(targetModules as string, "target_modules", where)
    : (name: string, layer: number) =>
      listed.includes(name) ||
      (suffix(name) && (layersToTransform === null || layersToTransform.includes(layer)));
  const excluded = excludeModules === null
    ? () => false
    : typeof excludeModules === "string"
    ? fullMatcher(excludeModules, "exclude_modules", where)
    : suffixMatcher(excludeModules);

  const byLayer = new Map<number, Projection[]>();
  for (let l = 0; l < numLayers; l++) {
    const adapted = PROJECTIONS.filter((p) => {
      const name = peftModuleName(l, p);
      return targeted(name, l) && !excluded(name);
    });
    if (adapted.length > 0) byLayer.set(l, adapted);
  }
  if (byLayer.size === 0) {
    throw new Error(
      `Invalid ${where}: target_modules ${JSON.stringify(targetModules)}` +
        (excludeModules === null ? "" : ` less exclude_modules ${JSON.stringify(excludeModules)}`) +
        ` match no projection of this model (${PROJECTIONS.join(", ")} of layers 0-${
          numLayers - 1
        }, named like ${peftModuleName(0, "q_proj")})`,
    );
  }
  const [first, ...rest] = [...byLayer.values()];
  const uneven = rest.find((projections) => projections.join() !== first.join());
  if (uneven !== undefined) {
    const described = [...byLayer].map(([l, p]) => `layer ${l}: ${p.join(", ")}`).join("; ");
    throw new Error(
      `Unsupported adapter in ${where}: it adapts different projections on different layers ` +
        `(${described}); only the same projections on every adapted layer are supported`,
    );
  }
  return {
    targetModules: first,
    ...(byLayer.size === numLayers ? {} : { layers: [...byLayer.keys()] }),
  };
}
