/**
 * The GPU runtime: device limits, readable GPU errors, memory accounting, the pipeline cache,
 * and the one-submit-per-step discipline with pipelines built once at load.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter, withGpuErrors } from "../lib/gpu/device.ts";
import { PipelineCache, pipelineKey } from "../lib/gpu/pipeline_cache.ts";
import { GpuTensor } from "../lib/gpu/tensor.ts";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { gpuTest, testGpu } from "./_gpu.ts";

gpuTest("the device gets the adapter's largest storage binding", async (gpu) => {
  const adapter = (await findAdapter())!;
  const limit = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
  assert.equal(gpu.maxBindingBytes, Math.floor(limit / 4) * 4);
  assert.equal(
    gpu.device.limits.maxStorageBufferBindingSize,
    adapter.limits.maxStorageBufferBindingSize,
  );
});

gpuTest("a GPU validation error becomes an error naming what failed", async (gpu) => {
  await assert.rejects(
    withGpuErrors(gpu.device, "tensor model.norm.weight", () => {
      gpu.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
      });
    }),
    /GPU validation error in tensor model\.norm\.weight/,
  );
  assert.equal(await withGpuErrors(gpu.device, "nothing", () => 7), 7);
});

gpuTest("memory accounting counts every allocation and free, by category", async () => {
  const gpu = await testGpu({ maxBindingBytes: 4096 });
  const before = gpu.memory.report().current;
  const t = GpuTensor.create(gpu, {
    shape: [100, 30],
    dtype: "bf16",
    label: "w",
    category: "weights",
  });
  assert.equal(t.chunks.length, 2); // 6000 bytes > 4096
  assert.equal(gpu.memory.report().current - before, t.byteSize);
  assert.equal(gpu.memory.report().byCategory.weights, t.byteSize);
  t.destroy();
  assert.equal(gpu.memory.report().current, before);
  assert.ok(gpu.memory.report().peak >= before + 6000);
  assert.throws(
    () =>
      GpuTensor.create(gpu, { shape: [5000], dtype: "f32", label: "big.vector", category: "x" }),
    /big\.vector.*cannot be split/,
  );
});

gpuTest("the pipeline cache compiles each kernel and constants pair once", (gpu) => {
  let compiled = 0; // createComputePipeline calls reaching the device
  const device = {
    createShaderModule: (d: GPUShaderModuleDescriptor) => gpu.device.createShaderModule(d),
    createComputePipeline: (d: GPUComputePipelineDescriptor) => {
      compiled++;
      return gpu.device.createComputePipeline(d);
    },
  } as unknown as GPUDevice;
  const cache = new PipelineCache(device);
  const swiglu = cache.get("swiglu");
  assert.equal(cache.get("swiglu"), swiglu, "the same pipeline object comes back");
  assert.deepEqual([compiled, cache.size], [1, 1]);
  const bf16 = cache.get("embedding", { DTYPE: 1 });
  const f32 = cache.get("embedding", { DTYPE: 0 });
  assert.notEqual(f32, bf16, "other constants give another pipeline");
  assert.deepEqual([compiled, cache.size], [3, 3]);
  assert.equal(cache.get("embedding", { DTYPE: 1 }), bf16);
  assert.notEqual(cache.get("embedding"), bf16, "no constants is another key than DTYPE 1");
  assert.deepEqual([compiled, cache.size], [4, 4]);
  // The key does not depend on the order the constants are written in.
  const ab = cache.get("matmul", { A_TRANS: 0, B_TRANS: 1 });
  assert.equal(cache.get("matmul", { B_TRANS: 1, A_TRANS: 0 }), ab);
  assert.deepEqual([compiled, cache.size], [5, 5]);
});

gpuTest("pipelines are keyed by kernel and constants only, and built once at load", async (gpu) => {
  assert.equal(pipelineKey("matmul", { B_TRANS: 1, A_TRANS: 0 }), "matmul(A_TRANS=0,B_TRANS=1)");
  const model = await loadModel(memoryModelSource("fixture", createFixtureModel()), { gpu });
  const built = gpu.pipelines.size;
  await model.generate("Hello", { maxTokens: 3, temperature: 0 });
  await model.forward([1, 2, 3, 4, 5]);
  assert.equal(gpu.pipelines.size, built, "no pipeline is compiled after load");
  const keys = gpu.pipelines.compiled.map((p) => pipelineKey(p.kernel, p.constants));
  assert.equal(new Set(keys).size, built, "compiled lists each pipeline once");
  assert.ok(keys.includes("embedding") || keys.some((k) => k.startsWith("embedding(")), `${keys}`);
  model.dispose();
});
