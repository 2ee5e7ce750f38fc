/**
 * The adapters a server can use: those named on the command line (`--adapter NAME=DIR`) and
 * every PEFT adapter folder in the adapters directory. The directory is the source of truth:
 * adapters found there are loaded on first use, so replicas sharing the directory serve the
 * same adapters, and unloading one only frees its memory. Adapters are added to and removed
 * from the model in a scheduler turn, never while a generation uses them.
 *
 * @module
 */
import { join } from "node:path";
import { writeFolderAtomic } from "../lib/format/folder_atomic.ts";
import { dirModelSource } from "../lib/format/fs_model_source.ts";
import type { Model } from "../lib/model/model.ts";
import type { LoraConfig } from "../lib/lora/lora_config.ts";
import type { LoraWeights } from "../lib/lora/lora_weights.ts";
import { ADAPTER_CONFIG, readPeftAdapter, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { ApiError } from "./errors.ts";
import type { GpuScheduler } from "./gpu_scheduler.ts";
import { isSafeName, resolveInside } from "./safe_path.ts";

/** A loaded adapter. */
export interface AdapterEntry {
  /** Its model id in requests. */
  name: string;
  /** The folder it was read from. */
  path: string;
  /** When it was loaded (Unix seconds). */
  created: number;
  /** Its LoRA settings. */
  config: LoraConfig;
}

/** Settings of an {@linkcode AdapterRegistry}. */
export interface AdapterRegistryOptions {
  /** The folder of trained and uploaded adapters, one sub-folder per adapter. */
  adaptersDir: string;
  /** The base model's id, which no adapter may take, and the base named in saved adapters. */
  baseModelId: string;
}

/** Loaded adapters, backed by the adapters directory. */
export class AdapterRegistry {
  readonly #model: Model;
  readonly #scheduler: GpuScheduler;
  readonly #options: AdapterRegistryOptions;
  readonly #loaded = new Map<string, AdapterEntry>();
  readonly #pinned = new Map<string, string>(); // name → folder, from the command line
  readonly #pending = new Map<string, Promise<AdapterEntry>>();

  /** Makes a registry for `model`, swapping adapters in turns of `scheduler`. */
  constructor(model: Model, scheduler: GpuScheduler, options: AdapterRegistryOptions) {
    this.#model = model;
    this.#scheduler = scheduler;
    this.#options = options;
  }

  /** The adapters directory. */
  get adaptersDir(): string {
    return this.#options.adaptersDir;
  }

  /** The adapters loaded now. */
  loaded(): AdapterEntry[] {
    return [...this.#loaded.values()];
  }

  /** Loads an adapter from any folder (the operator's `--adapter NAME=DIR`) and keeps its path. */
  async addFolder(name: string, dir: string): Promise<AdapterEntry> {
    this.#checkName(name);
    const entry = await this.#load(name, dir);
    this.#pinned.set(name, dir);
    return entry;
  }

  /** Loads, or reloads, the adapter `name` from its folder in the adapters directory. */
  async load(name: string): Promise<AdapterEntry> {
    this.#checkName(name);
    const folder = this.#pinned.get(name) ?? await this.#folderOf(name).catch((e) => {
      if (!(e instanceof ApiError)) throw e;
      throw new ApiError(
        404,
        `No adapter ${JSON.stringify(name)} in the adapters directory: ${e.message}`,
        {
          param: "name",
          code: "adapter_not_found",
        },
      );
    });
    return await this.#load(name, folder);
  }

  /**
   * The adapter `name`, loading it from the adapters directory on first use; null when no
   * adapter has that name.
   */
  async resolve(name: string): Promise<AdapterEntry | null> {
    const entry = this.#loaded.get(name);
    if (entry) return entry;
    const pending = this.#pending.get(name);
    if (pending) return await pending;
    if (!this.#pinned.has(name) && !(await this.#inDirectory(name))) return null;
    return await this.load(name);
  }

  /** Frees an adapter's memory; one in the adapters directory is loaded again on next use. */
  async unload(name: string): Promise<boolean> {
    if (!this.#loaded.has(name)) return false;
    await this.#scheduler.run("background", () => this.#model.removeAdapter(name));
    this.#loaded.delete(name);
    return true;
  }

  /** Writes `weights` as a PEFT adapter folder `name` in the adapters directory and loads it. */
  async save(name: string, weights: LoraWeights): Promise<AdapterEntry> {
    this.#checkName(name);
    const files = serializePeftAdapter(weights, this.#model.config, this.#options.baseModelId);
    await writeFolderAtomic(join(this.#options.adaptersDir, name), files);
    return await this.load(name);
  }

  /** Names of every adapter: loaded ones and those waiting in the adapters directory, sorted. */
  async names(): Promise<string[]> {
    const names = new Set([...this.#loaded.keys(), ...this.#pinned.keys()]);
    try {
      for await (const item of Deno.readDir(this.#options.adaptersDir)) {
        if (!names.has(item.name) && await this.#inDirectory(item.name)) names.add(item.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return [...names].sort();
  }

  /** Whether the adapters directory holds a usable adapter folder `name`. */
  async #inDirectory(name: string): Promise<boolean> {
    if (!isSafeName(name) || name === this.#options.baseModelId) return false;
    try {
      await this.#folderOf(name);
      return true;
    } catch (e) {
      if (e instanceof ApiError) return false;
      throw e;
    }
  }

  /** The real path of adapter folder `name`, inside the adapters directory. */
  async #folderOf(name: string): Promise<string> {
    const dir = await resolveInside(this.#options.adaptersDir, name, "model");
    await resolveInside(dir, ADAPTER_CONFIG, "model");
    return dir;
  }

  #checkName(name: string): void {
    if (!isSafeName(name)) {
      throw new ApiError(
        400,
        `Invalid adapter name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ., _ or -, ` +
          "not starting with .",
        { param: "name", code: "invalid_name" },
      );
    }
    if (name === this.#options.baseModelId) {
      throw new ApiError(400, `Adapter name ${JSON.stringify(name)} is the base model's id`, {
        param: "name",
        code: "invalid_name",
      });
    }
  }

  #load(name: string, dir: string): Promise<AdapterEntry> {
    const pending = this.#pending.get(name);
    if (pending) return pending;
    const loading = (async () => {
      let weights: LoraWeights;
      try {
        weights = await readPeftAdapter(dirModelSource(dir), this.#model.config);
      } catch (e) {
        throw new ApiError(
          400,
          `Adapter ${JSON.stringify(name)} cannot be loaded: ${(e as Error).message}`,
          {
            param: "model",
            code: "invalid_adapter",
          },
        );
      }
      await this.#scheduler.run("background", () => this.#model.addAdapter(name, weights));
      const entry = {
        name,
        path: dir,
        created: Math.floor(Date.now() / 1000),
        config: weights.config,
      };
      this.#loaded.set(name, entry);
      return entry;
    })();
    this.#pending.set(name, loading);
    return loading.finally(() => this.#pending.delete(name));
  }
}
