/**
 * Loading a model: files from a folder, a URL or memory → a checked checkpoint, a tokenizer,
 * and a backend (WebGPU, or the CPU reference where no adapter exists).
 *
 * @module
 */
import { readCheckpoint } from "../format/checkpoint.ts";
import { acquireGpu, findAdapter, type Gpu, withGpuErrors } from "../gpu/device.ts";
import { Model } from "./model.ts";
import { CpuEngine } from "./cpu_engine.ts";
import type { EngineOptions } from "./engine.ts";
import { GpuEngine } from "./gpu_engine.ts";
import { describeTuning, tuneMatmul } from "../ops/matmul_tuning.ts";
import { uploadWeights } from "./gpu_weights.ts";
import { type ModelSource, urlModelSource } from "../format/model_source.ts";
import { entryToF32 } from "../format/safetensors.ts";
import { readTokenizer } from "../text/tokenizer_files.ts";

/** Options of {@linkcode loadModel}: the engine's (context, KV-cache dtype) and these. */
export interface LoadModelOptions extends EngineOptions {
  /**
   * Where to compute: "webgpu", "cpu" (the plain-TypeScript reference, no adapter needed), or
   * "auto" (WebGPU when an adapter exists, else CPU). Default "auto".
   */
  backend?: "auto" | "webgpu" | "cpu";
  /** A device to share between models (one is acquired otherwise). */
  gpu?: Gpu;
  /** Tokens per prefill chunk on the GPU. Default 256. */
  chunkTokens?: number;
  /** Caps a storage binding below the adapter's limit (tests force chunking with it). */
  maxBindingBytes?: number;
  /**
   * Receives the one line a WebGPU load writes about its kernel choices (the variants, and
   * whether they were measured or read from the cache); default `console.error`.
   */
  log?: (line: string) => void;
}

/**
 * Loads a Hugging Face Llama checkpoint (config.json, safetensors, tokenizer files). `source`
 * is a folder path (Deno), a URL, or a {@linkcode ModelSource}. On WebGPU, the first load on an
 * adapter measures its matmul kernel variants (`tuneMatmul`: about 10 s on lavapipe) and caches
 * the choice on disk (`KernelChoiceCache`), which later loads read.
 *
 * @example
 * ```ts
 * const model = await loadModel("./model_cache/LLM-Research/Llama-3___2-1B");
 * const { text } = await model.generate("为什么天是蓝的？", { maxTokens: 32, temperature: 0 });
 * const onCpu = await loadModel("https://example.com/models/tiny/", { backend: "cpu" });
 * ```
 */
export async function loadModel(
  source: string | URL | ModelSource,
  options: LoadModelOptions = {},
): Promise<Model> {
  const src = await resolveSource(source);
  const checkpoint = await readCheckpoint(src);
  const { config } = checkpoint;
  const tokenizer = await readTokenizer(src);
  const backend = options.backend ?? "auto";
  const useGpu = backend === "webgpu" || (backend === "auto" && await adapterExists());
  if (useGpu) {
    const gpu = options.gpu ?? await acquireGpu({ maxBindingBytes: options.maxBindingBytes });
    // Once per adapter (then cached): the matmul kernels the model records are chosen now.
    (options.log ?? console.error)(describeTuning(await tuneMatmul(gpu)));
    // One error scope around the upload and the pipeline builds: a GPU error names the tensor
    // (buffers carry their checkpoint names) or the kernel (pipelines carry theirs).
    return await withGpuErrors(gpu.device, `loading ${src.name}`, () => {
      const weights = uploadWeights(gpu, config, checkpoint.tensors);
      const engine = new GpuEngine(gpu, config, weights, options);
      return new Model({ name: src.name, config, tokenizer, engine, gpu, weights });
    });
  }
  const f32 = new Map<string, Float32Array>();
  for (const [name, entry] of checkpoint.tensors) f32.set(name, entryToF32(entry));
  const engine = new CpuEngine(config, f32, options);
  return new Model({ name: src.name, config, tokenizer, engine, gpu: null, weights: null });
}

async function adapterExists(): Promise<boolean> {
  return (await findAdapter()) !== null;
}

async function resolveSource(source: string | URL | ModelSource): Promise<ModelSource> {
  if (typeof source === "object" && !(source instanceof URL)) return source;
  const text = String(source);
  if (source instanceof URL || /^(https?|file):\/\//.test(text)) return urlModelSource(text);
  const { dirModelSource } = await import("../format/fs_model_source.ts");
  return dirModelSource(text);
}
