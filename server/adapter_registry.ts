/**
 * The adapters a server can use: those the model holds, those named on the command line
 * (`--adapter NAME=DIR`) and every PEFT adapter folder in the adapters directory. Adapters found
 * there are loaded on first use, so replicas sharing the directory serve the same adapters,
 * and unloading one only frees its memory. A fine-tuning job's checkpoint is servable too, by
 * the model id `ftjob-…:ckpt-step-N`. Which adapters are loaded is the model's to say
 * (`Model.adapterNames`); this registry keeps no set of its own, only where the command-line
 * adapters live and when each adapter was loaded. Adapters are added to and removed from the
 * model in a scheduler turn, never while a generation uses them.
 *
 * @module
 */
import { join } from "node:path";
import {
  ADAPTER_CONFIG,
  dirModelSource,
  type LoraConfig,
  type LoraWeights,
  type Model,
  readPeftAdapter,
  serializePeftAdapter,
  writeFolderAtomic,
} from "../mod.ts";
import { folderOfCheckpointModel } from "./checkpoint_ids.ts";
import { ApiError } from "./errors.ts";
import type { GpuScheduler } from "./gpu_scheduler.ts";
import { isSafeName, resolveInside } from "./safe_path.ts";

/** An adapter the model holds. */
export interface AdapterEntry {
  /** Its model id in requests. */
  name: string;
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

const now = () => Math.floor(Date.now() / 1000);

/** The model's adapters, and those the adapters directory and the command line can load. */
export class AdapterRegistry {
  readonly #model: Model;
  readonly #scheduler: GpuScheduler;
  readonly #options: AdapterRegistryOptions;
  readonly #started = now(); // the load time of adapters the model held before this registry
  readonly #pinned = new Map<string, string>(); // name → folder, from the command line
  readonly #loadedAt = new Map<string, number>(); // name → when this registry last loaded it
  readonly #pending = new Map<string, Promise<AdapterEntry>>(); // loads waiting for their turn

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

  /** The adapters the model holds now. */
  loaded(): AdapterEntry[] {
    return this.#model.adapterNames.map((name) => this.#entry(name)!);
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
   * The adapter `name`, loading it (in a turn of its own) when the model does not hold it but
   * its folder is known; null when no adapter has that name.
   */
  async resolve(name: string): Promise<AdapterEntry | null> {
    const entry = this.#entry(name);
    if (entry) return entry;
    const folder = await this.#findFolder(name);
    return folder === null ? null : await this.#load(name, folder);
  }

  /**
   * Within a turn the caller holds: makes sure the model holds the adapter `name`, which may have
   * been unloaded since it was resolved, by loading it again from its folder at once (a load of
   * its own would wait for the caller's turn to end). False when it is not found any more.
   */
  async loadInTurn(name: string): Promise<boolean> {
    if (this.#entry(name)) return true;
    const folder = await this.#findFolder(name);
    if (folder === null) return false;
    this.#add(name, await this.#read(name, folder));
    return true;
  }

  /** Frees an adapter's memory; one in the adapters directory is loaded again on next use. */
  unload(name: string): Promise<boolean> {
    return this.#scheduler.run("background", () => {
      if (!this.#model.adapterNames.includes(name)) return false;
      this.#model.removeAdapter(name);
      this.#loadedAt.delete(name);
      return true;
    });
  }

  /**
   * Writes `weights` as a new PEFT adapter folder in the adapters directory and loads it. It
   * never replaces anything: the folder is `name`, or, when something already has that name,
   * the first free `name-2`, `name-3`… (as OpenAI numbers repeated suffixes). Returns the entry,
   * whose name is the one used.
   */
  async saveNew(name: string, weights: LoraWeights): Promise<AdapterEntry> {
    this.#checkName(name);
    const files = serializePeftAdapter(weights, this.#model.config, this.#options.baseModelId);
    await Deno.mkdir(this.#options.adaptersDir, { recursive: true });
    for (let n = 1;; n++) {
      const candidate = n === 1 ? name : `${name.slice(0, 60)}-${n}`;
      if (this.#pinned.has(candidate) || this.#model.adapterNames.includes(candidate)) continue;
      const dir = join(this.#options.adaptersDir, candidate);
      try {
        await Deno.mkdir(dir); // claims the name: fails when anything has it
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) continue;
        throw e;
      }
      await writeFolderAtomic(dir, files);
      return await this.load(candidate);
    }
  }

  /** Names of every adapter: the model's and those waiting in the adapters directory, sorted. */
  async names(): Promise<string[]> {
    const names = new Set([...this.#model.adapterNames, ...this.#pinned.keys()]);
    try {
      for await (const item of Deno.readDir(this.#options.adaptersDir)) {
        if (!names.has(item.name) && await this.#findFolder(item.name)) names.add(item.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return [...names].sort();
  }

  /** The adapter `name` as the model holds it, or null. */
  #entry(name: string): AdapterEntry | null {
    const config = this.#model.adapterConfig(name);
    if (!config) return null;
    return { name, created: this.#loadedAt.get(name) ?? this.#started, config };
  }

  /** The folder of adapter `name`: given on the command line, or in the adapters directory. */
  async #findFolder(name: string): Promise<string | null> {
    const pinned = this.#pinned.get(name);
    if (pinned !== undefined) return pinned;
    const checkpoint = folderOfCheckpointModel(name); // a job's checkpoint, `ftjob-…:ckpt-step-N`
    if (checkpoint === null && (!isSafeName(name) || name === this.#options.baseModelId)) {
      return null;
    }
    try {
      return await this.#folderOf(checkpoint ?? name);
    } catch (e) {
      if (e instanceof ApiError) return null;
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

  /** Reads the adapter in `dir`, then adds it to the model in a background turn. */
  #load(name: string, dir: string): Promise<AdapterEntry> {
    const pending = this.#pending.get(name);
    if (pending) return pending;
    const loading = (async () => {
      const weights = await this.#read(name, dir);
      return await this.#scheduler.run("background", () => {
        this.#add(name, weights);
        return this.#entry(name)!;
      });
    })();
    this.#pending.set(name, loading);
    return loading.finally(() => this.#pending.delete(name));
  }

  /** The adapter in `dir`; a 400 {@linkcode ApiError} when it cannot be read for this model. */
  async #read(name: string, dir: string): Promise<LoraWeights> {
    try {
      return await readPeftAdapter(dirModelSource(dir), this.#model.config);
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
  }

  /** Adds an adapter to the model; the caller holds a turn. */
  #add(name: string, weights: LoraWeights): void {
    this.#model.addAdapter(name, weights);
    this.#loadedAt.set(name, now());
  }
}
