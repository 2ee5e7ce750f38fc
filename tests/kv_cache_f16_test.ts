/**
 * A KV cache stored in f16 (`kvCacheDtype: "f16"`): decode still equals the full forward (both
 * read the same f16 keys and values), the logits stay within f16 rounding of PyTorch's f32
 * golden logits, and the cache takes half the bytes of an f32 one; the CPU engine rounds its
 * cache the same way.
 *
 * @module
 */
import assert from "node:assert/strict";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { GpuEngine } from "../lib/model/gpu_engine.ts";
import { CpuEngine } from "../lib/model/cpu_engine.ts";
import { entryToF32 } from "../lib/format/safetensors.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest } from "./_gpu.ts";

const { expected, checkpoint } = await goldenCase("bf16");

gpuTest(
  "an f16 KV cache halves the cache, keeps decode equal to the full forward and logits near PyTorch's",
  async (gpu) => {
    const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
    const cacheBytes = (kvCacheDtype: "f32" | "f16") => {
      const before = gpu.memory.report().byCategory["kv-cache"] ?? 0;
      const model = new GpuEngine(gpu, checkpoint.config, weights, {
        maxContext: 32,
        chunkTokens: 4,
        kvCacheDtype,
      });
      return { model, bytes: (gpu.memory.report().byCategory["kv-cache"] ?? 0) - before };
    };
    const f32 = cacheBytes("f32"), f16 = cacheBytes("f16");
    assert.equal(f16.bytes * 2, f32.bytes, "the f16 cache takes half the bytes");

    const ids = expected.ids, V = checkpoint.config.vocabSize;
    const full = await f16.model.logits(ids); // (T, V)
    // K and V rounded to f16 (relative error ≤ 2⁻¹¹) should move the logits by a few f16 units
    // of their range at most: 2e-3 is four units. The f32 cache matches PyTorch to 1e-4 of the
    // range (golden_gpu_test.ts).
    assertClose(full, expected.logits_base, {
      atol: 2e-3 * maxAbs(expected.logits_base),
      rtol: 0,
      label: "f16 cache vs PyTorch",
    });
    const exact = await f32.model.logits(ids);
    assert.ok(maxAbs(full.map((x, i) => x - exact[i])) > 0, "the f16 cache rounds K and V");

    const row = (t: number) => full.subarray(t * V, (t + 1) * V);
    const tol = { atol: 1e-5 * maxAbs(full), rtol: 1e-4 };
    assertClose(await f16.model.prefill(ids.slice(0, 5)), row(4), { ...tol, label: "prefill" });
    for (let t = 5; t < ids.length; t++) {
      assertClose(await f16.model.decode(ids[t]), row(t), { ...tol, label: `decode ${t}` });
    }
    f32.model.dispose();
    f16.model.dispose();
  },
);

Deno.test("the CPU engine honours an f16 KV cache: logits near PyTorch's, decode equals the full forward", async () => {
  const weights = new Map([...checkpoint.tensors].map(([name, e]) => [name, entryToF32(e)]));
  const engine = (kvCacheDtype: "f32" | "f16") =>
    new CpuEngine(checkpoint.config, weights, { maxContext: 32, kvCacheDtype });
  const f16 = engine("f16"), ids = expected.ids, V = checkpoint.config.vocabSize;
  const full = await f16.logits(ids); // (T, V)
  assertClose(full, expected.logits_base, {
    atol: 2e-3 * maxAbs(expected.logits_base),
    rtol: 0,
    label: "CPU f16 cache vs PyTorch",
  });
  const exact = await engine("f32").logits(ids);
  assert.ok(maxAbs(full.map((x, i) => x - exact[i])) > 0, "the f16 cache rounds K and V");
  const row = (t: number) => full.subarray(t * V, (t + 1) * V);
  const tol = { atol: 1e-5 * maxAbs(full), rtol: 1e-4 };
  assertClose(await f16.prefill(ids.slice(0, 5)), row(4), { ...tol, label: "prefill" });
  for (let t = 5; t < ids.length; t++) {
    assertClose(await f16.decode(ids[t]), row(t), { ...tol, label: `decode ${t}` });
  }
});
