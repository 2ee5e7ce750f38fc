/**
 * Compute pipelines keyed by kernel name and compile-time (`override`) constants only. Shapes
 * travel in uniforms, so one pipeline serves every sequence length.
 *
 * @module
 */
import { KERNEL_SOURCES, type KernelName } from "./kernel_sources.ts";

/** Compile-time constants of a kernel: WGSL `override` values. */
export type KernelConstants = Record<string, number>;

/** One compiled pipeline: its kernel and constants. */
export interface CompiledPipeline {
  /** The kernel. */
  readonly kernel: KernelName;
  /** Its `override` constants. */
  readonly constants: Readonly<KernelConstants>;
}

/**
 * Compiles each (kernel, constants) pair once and hands out the cached pipeline.
 *
 * @example
 * ```ts
 * const gpu = await acquireGpu();
 * const pipeline = gpu.pipelines.get("matmul", { A_TRANS: 0, B_TRANS: 1, B_DTYPE: 1 });
 * gpu.pipelines.size; // pipelines compiled so far
 * gpu.pipelines.compiled; // [{ kernel: "matmul", constants: { A_TRANS: 0, B_TRANS: 1, B_DTYPE: 1 } }]
 * ```
 */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #modules = new Map<KernelName, GPUShaderModule>();
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #compiled: CompiledPipeline[] = [];

  /** Creates an empty cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** How many pipelines have been compiled. */
  get size(): number {
    return this.#pipelines.size;
  }

  /**
   * Every (kernel, constants) pair compiled so far, in order: what a run used, so that another
   * device (a browser's, say) can be checked to compile all of them.
   */
  get compiled(): readonly CompiledPipeline[] {
    return this.#compiled;
  }

  /** The pipeline for `kernel` with `constants`, compiled on first use. */
  get(kernel: KernelName, constants: KernelConstants = {}): GPUComputePipeline {
    const key = pipelineKey(kernel, constants);
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      pipeline = this.#device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module: this.#module(kernel), entryPoint: "main", constants },
      });
      this.#pipelines.set(key, pipeline);
      this.#compiled.push({ kernel, constants: { ...constants } });
    }
    return pipeline;
  }

  #module(kernel: KernelName): GPUShaderModule {
    let module = this.#modules.get(kernel);
    if (!module) {
      module = this.#device.createShaderModule({ label: kernel, code: KERNEL_SOURCES[kernel] });
      this.#modules.set(kernel, module);
    }
    return module;
  }
}

/**
 * The cache key: the kernel name and its constants in a stable order.
 *
 * @example
 * ```ts
 * pipelineKey("matmul", { B_TRANS: 1, A_TRANS: 0 }); // "matmul(A_TRANS=0,B_TRANS=1)"
 * ```
 */
export function pipelineKey(kernel: KernelName, constants: KernelConstants): string {
  const parts = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`);
  return parts.length ? `${kernel}(${parts.join(",")})` : kernel;
}
