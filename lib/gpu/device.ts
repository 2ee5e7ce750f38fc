/**
 * WebGPU device acquisition: the adapter's maximum limits, the optional features we use, and
 * error scopes mapped to readable errors that name the kernel or tensor.
 *
 * @module
 */
import {
  type AdapterClass,
  adapterClassOf,
  defaultKernelChoices,
  type KernelChoices,
} from "./kernel_choices.ts";
import { MemoryTracker } from "./memory.ts";
import { PipelineCache } from "./pipeline_cache.ts";

/** Options for {@linkcode acquireGpu}. */
export interface AcquireGpuOptions {
  /** Power preference passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /**
   * Caps the bytes of one storage binding below the adapter's limit. Tests use it to force
   * tensors into several chunks.
   */
  maxBindingBytes?: number;
}

/** A WebGPU device with the facts the engine needs about it. */
export interface Gpu {
  /** The device, created with the adapter's maximum buffer limits. */
  readonly device: GPUDevice;
  /** A description of the adapter, for logs and benchmarks. */
  readonly adapterName: string;
  /**
   * Names this adapter and what decides its kernels' speed: vendor, architecture, device and
   * description, the runtime that drives it (WebGPU reports no driver version; the runtime's
   * wgpu and the description, which names the driver's LLVM on lavapipe, stand for it) and the
   * largest binding. The key of the kernel choices cached on disk (`KernelChoiceCache`).
   */
  readonly adapterKey: string;
  /** The adapter's class: its kernels' prior choice (`MATMUL_PRIORS`). */
  readonly adapterClass: AdapterClass;
  /** Whether the adapter is a software fallback (for example lavapipe). */
  readonly isFallback: boolean;
  /** Whether `shader-f16` was enabled. */
  readonly hasF16: boolean;
  /** Whether `timestamp-query` was enabled. */
  readonly hasTimestamps: boolean;
  /**
   * Whether `subgroups` was enabled: the row reductions then have subgroup variants
   * (`MatmulChoice.subgroupReductions`).
   */
  readonly hasSubgroups: boolean;
  /**
   * The adapter's subgroup sizes (`subgroupMinSize`, `subgroupMaxSize` of its info), where it
   * has subgroups and reports them; the kernels work with any size in between.
   */
  readonly subgroupSizes: { min: number; max: number } | null;
  /** Largest storage binding in bytes; tensors above it are split into chunks. */
  readonly maxBindingBytes: number;
  /** Counts every byte the engine allocates on this device. */
  readonly memory: MemoryTracker;
  /** Compiled pipelines, keyed by kernel name and compile-time constants. */
  readonly pipelines: PipelineCache;
  /**
   * The kernels this device's ops record (matmul variants, load fusion): the default until
   * `tuneMatmul` measures them or `setMatmulChoice` sets them.
   */
  readonly kernels: KernelChoices;
}

/** The message shown when no WebGPU adapter exists. */
export const NO_ADAPTER_MESSAGE = "No WebGPU adapter found: install a GPU driver with Vulkan, " +
  "Metal or D3D12 support, or on Linux without a GPU install Mesa's lavapipe " +
  '(`apt-get install mesa-vulkan-drivers`); the CPU backend (`backend: "cpu"`) needs no adapter';

/** Whether this runtime exposes WebGPU at all. */
export function hasWebGpu(): boolean {
  return typeof navigator !== "undefined" && "gpu" in navigator && !!navigator.gpu;
}

/**
 * The Vulkan-only backend choice for Deno on Linux. wgpu otherwise also opens its OpenGL
 * backend (Mesa's EGL), whose exit handler races with the thread-local EGL state of the threads
 * that created it: a process that made WebGPU instances on several threads, as `deno test` does
 * with one per test module, aborted at exit with `double free or corruption` in about one run in
 * four of an 8-module reproducer, and in none of 80 runs with Vulkan only. Every adapter we can
 * use (lavapipe included) is a Vulkan one there; a `DENO_WEBGPU_BACKEND` the user set is kept.
 */
const LINUX_WEBGPU_BACKEND = "vulkan";

/**
 * Sets what Deno's WebGPU needs on headless Linux before its first instance, where unset and
 * permitted: `XDG_RUNTIME_DIR`, which Mesa's drivers otherwise warn about on every start, and
 * `DENO_WEBGPU_BACKEND` (Vulkan only, for the reason given at `LINUX_WEBGPU_BACKEND`).
 */
function prepareLinuxEnvironment(): void {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno?.build.os !== "linux") return;
  try {
    if (!deno.env.get("XDG_RUNTIME_DIR")) deno.env.set("XDG_RUNTIME_DIR", "/tmp");
    if (!deno.env.get("DENO_WEBGPU_BACKEND")) {
      deno.env.set("DENO_WEBGPU_BACKEND", LINUX_WEBGPU_BACKEND);
    }
  } catch {
    // No env permission: the defaults stay (a warning, and the exit race in multi-isolate runs).
  }
}

/**
 * The WebGPU adapter, or null when there is none. On Linux under Deno it first prepares the
 * environment: `XDG_RUNTIME_DIR`, and Vulkan as the only backend (see `LINUX_WEBGPU_BACKEND`).
 */
export async function findAdapter(
  powerPreference?: GPUPowerPreference,
): Promise<GPUAdapter | null> {
  if (!hasWebGpu()) return null;
  prepareLinuxEnvironment();
  return await navigator.gpu.requestAdapter({ powerPreference });
}

/**
 * Requests an adapter and a device with the adapter's maximum storage-buffer limits, plus
 * `shader-f16`, `timestamp-query` and `subgroups` when offered. Throws a clear error when there is none.
 *
 * @example
 * ```ts
 * const gpu = await acquireGpu();
 * gpu.adapterName; // "llvmpipe (LLVM 15.0.6, 256 bits)" on lavapipe
 * const model = await loadModel(dir, { gpu });
 * ```
 */
export async function acquireGpu(options: AcquireGpuOptions = {}): Promise<Gpu> {
  const adapter = await findAdapter(options.powerPreference);
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  const wanted = ["shader-f16", "timestamp-query", "subgroups"] as GPUFeatureName[];
  const features = wanted.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  // Errors outside an error scope (a failed submit, say) would otherwise vanish: report them.
  device.addEventListener("uncapturederror", (event) => {
    console.error(`Uncaptured WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  const bindingLimit = Math.min(
    device.limits.maxStorageBufferBindingSize,
    device.limits.maxBufferSize,
  );
  const maxBindingBytes = floorTo4(Math.min(bindingLimit, options.maxBindingBytes ?? Infinity));
  const info = adapter.info;
  const isFallback = info.isFallbackAdapter ?? false;
  const hasSubgroups = features.includes("subgroups" as GPUFeatureName);
  return {
    device,
    adapterName: info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim(),
    adapterKey: [
      info.vendor,
      info.architecture,
      info.device,
      info.description,
      runtimeName(),
      `binding ${bindingLimit}`,
    ].join(" / "),
    adapterClass: adapterClassOf({ ...info, isFallback }),
    isFallback,
    hasF16: features.includes("shader-f16"),
    hasTimestamps: features.includes("timestamp-query"),
    hasSubgroups,
    subgroupSizes: hasSubgroups ? subgroupSizesOf(info) : null,
    maxBindingBytes,
    memory: new MemoryTracker(),
    pipelines: new PipelineCache(device),
    kernels: defaultKernelChoices(),
  };
}

/** The JavaScript runtime and its version: Deno's names its wgpu, a browser's its build. */
function runtimeName(): string {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno) return `deno ${deno.version.deno}`;
  return typeof navigator === "undefined" ? "unknown runtime" : navigator.userAgent;
}

/** The subgroup sizes an adapter's info reports (Chromium's), or null where it reports none. */
function subgroupSizesOf(info: GPUAdapterInfo): { min: number; max: number } | null {
  const { subgroupMinSize: min, subgroupMaxSize: max } = info as {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  return min && max ? { min, max } : null;
}

function floorTo4(n: number): number {
  return Math.floor(n / 4) * 4;
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and turns a captured GPU error
 * into an `Error` whose message names `what` (a kernel or a tensor).
 */
export async function withGpuErrors<T>(
  device: GPUDevice,
  what: string,
  body: () => T | Promise<T>,
): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let result: T | undefined;
  let failure: unknown = null;
  try {
    result = await body();
  } catch (e) {
    failure = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom) throw new Error(`Out of GPU memory in ${what}: ${oom.message}`);
  if (validation) throw new Error(`GPU validation error in ${what}: ${validation.message}`);
  if (failure !== null) throw failure;
  return result as T;
}
