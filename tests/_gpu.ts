/**
 * GPU test gating: GPU tests never pass silently. Without an adapter they are registered as
 * ignored (visible in the summary); with `REQUIRE_GPU=1` a missing adapter fails them.
 * Also small helpers to upload and read back buffers in tests.
 *
 * @module
 */
import { acquireGpu, type AcquireGpuOptions, findAdapter, type Gpu } from "../lib/gpu/device.ts";

const required = Deno.env.get("REQUIRE_GPU") === "1";
const adapterPresent = (await findAdapter()) !== null;

let shared: Promise<Gpu> | null = null;

/** The shared test device (one per test file). */
export function testGpu(options?: AcquireGpuOptions): Promise<Gpu> {
  if (options) return acquireGpu(options);
  shared ??= acquireGpu();
  return shared;
}

/** Registers a test that needs WebGPU. */
export function gpuTest(name: string, fn: (gpu: Gpu) => Promise<void> | void): void {
  Deno.test({
    name,
    ignore: !adapterPresent && !required,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => fn(await testGpu()),
  });
}

/** A storage buffer holding `data`. */
export function upload(gpu: Gpu, data: Float32Array | Uint32Array | Uint8Array): GPUBuffer {
  const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
  const buffer = gpu.device.createBuffer({
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const bytes = new Uint8Array(size);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  gpu.device.queue.writeBuffer(buffer, 0, bytes);
  return buffer;
}

/** An empty f32 storage buffer of `n` elements. */
export function emptyF32(gpu: Gpu, n: number): GPUBuffer {
  return upload(gpu, new Float32Array(n));
}

/** Reads `n` f32 values of `buffer` back to the host. */
export async function readF32(gpu: Gpu, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  const staging = gpu.device.createBuffer({
    size: n * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = gpu.device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, n * 4);
  gpu.device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}
