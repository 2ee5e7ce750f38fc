/**
 * The kernel choices measured on each adapter, kept on disk so that a new process on the same
 * adapter reuses them instead of measuring (and possibly deciding otherwise) again. One JSON
 * file maps `Gpu.adapterKey` to a {@linkcode MatmulChoice}; it is written atomically, and a
 * file that cannot be read or parsed is ignored with a warning (the next measurement rewrites
 * it). Deno only: elsewhere (a browser) there is no cache, and the file layer is loaded by a
 * dynamic import, so that the browser build does not reach `node:` modules.
 *
 * @module
 */
import { z } from "../deps.ts";
import type { MatmulChoice } from "./kernel_choices.ts";

/** The Deno file layer, loaded on first use (the browser build never reaches it). */
const textFile = () => import("../format/text_file.ts");

const VARIANT = z.enum(["tiled", "blocked", "gemv", "gemv_split"]);
/** An entry written before subgroup reductions existed lacks `subgroupReductions`. */
const ENTRY = z.object({
  small: VARIANT,
  large: VARIANT,
  fuseLoads: z.boolean(),
  subgroupReductions: z.boolean().optional(),
});
const FILE = z.object({ version: z.literal(1), choices: z.record(z.string(), ENTRY) });
type CacheFile = z.infer<typeof FILE>;

/** A cached choice: a {@linkcode MatmulChoice}, whose `subgroupReductions` older files lack. */
export type CachedMatmulChoice =
  & Omit<MatmulChoice, "subgroupReductions">
  & Partial<Pick<MatmulChoice, "subgroupReductions">>;

/** The environment variable naming the cache file, which overrides the default path. */
export const KERNEL_CACHE_ENV = "WEBGPU_LORA_KERNEL_CACHE";

/**
 * The kernel choices of every adapter measured on this machine, in one JSON file.
 *
 * @example
 * ```ts
 * const cache = new KernelChoiceCache("/tmp/kernel_choices.json");
 * const choice = { small: "gemv", large: "blocked", fuseLoads: false, subgroupReductions: false };
 * await cache.set(gpu.adapterKey, choice);
 * await cache.get(gpu.adapterKey); // the same choice
 * const shared = KernelChoiceCache.fromEnvironment(); // $WEBGPU_LORA_KERNEL_CACHE or ~/.cache/…
 * ```
 */
export class KernelChoiceCache {
  /** Where warnings go (a file that cannot be read, parsed or written). */
  readonly #warn: (message: string) => void;

  /** A cache in the file at `path` (created, with its folder, on the first `set`). */
  constructor(readonly path: string, warn: (message: string) => void = console.warn) {
    this.#warn = warn;
  }

  /**
   * The cache at `$WEBGPU_LORA_KERNEL_CACHE`, else `$XDG_CACHE_HOME/webgpu-lora/kernel_choices.json`,
   * else `~/.cache/webgpu-lora/kernel_choices.json`; null outside Deno, without a home folder,
   * or without permission to read the environment.
   */
  static fromEnvironment(): KernelChoiceCache | null {
    const deno = (globalThis as { Deno?: typeof Deno }).Deno;
    if (!deno) return null;
    try {
      const explicit = deno.env.get(KERNEL_CACHE_ENV);
      if (explicit) return new KernelChoiceCache(explicit);
      const home = deno.env.get("HOME") ?? deno.env.get("USERPROFILE");
      const base = deno.env.get("XDG_CACHE_HOME") || (home ? `${home}/.cache` : null);
      return base ? new KernelChoiceCache(`${base}/webgpu-lora/kernel_choices.json`) : null;
    } catch {
      return null; // no env permission
    }
  }

  /**
   * The choice cached for `adapterKey`, or null; without `subgroupReductions` when it was
   * cached before they existed.
   */
  async get(adapterKey: string): Promise<CachedMatmulChoice | null> {
    return (await this.#read()).choices[adapterKey] ?? null;
  }

  /** Records `choice` for `adapterKey`, keeping the other adapters' (an atomic rewrite). */
  async set(adapterKey: string, choice: MatmulChoice): Promise<void> {
    const file = await this.#read();
    file.choices[adapterKey] = { ...choice };
    try {
      await (await textFile()).writeTextAtomic(this.path, JSON.stringify(file, null, 2) + "\n");
    } catch (e) {
      this.#warn(`Kernel choice cache ${this.path} not written: ${(e as Error).message}`);
    }
  }

  async #read(): Promise<CacheFile> {
    const empty: CacheFile = { version: 1, choices: {} };
    let text: string | null;
    try {
      text = await (await textFile()).readTextIfPresent(this.path);
    } catch (e) {
      this.#warn(`Kernel choice cache ${this.path} not read: ${(e as Error).message}`);
      return empty;
    }
    if (text === null) return empty;
    try {
      return FILE.parse(JSON.parse(text));
    } catch {
      this.#warn(`Kernel choice cache ${this.path} is not a valid cache file; ignoring it`);
      return empty;
    }
  }
}
