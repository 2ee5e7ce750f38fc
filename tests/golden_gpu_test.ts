/**
 * The WebGPU model against the PyTorch golden values (tests/golden/README.md): base logits,
 * logits with the PEFT adapter applied unmerged, KV-cache decode against the full forward, and
 * an embedding / LM head forced into several chunks — for the Llama f32 and bf16 checkpoints
 * and the Qwen2 (q/k/v biases) and Qwen3 (per-head q/k norms, head_dim 32) bf16 ones.
 *
 * @module
 */
import { GpuLoraAdapter } from "../lib/lora/gpu_adapter.ts";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { GpuEngine } from "../lib/model/gpu_engine.ts";
import { setMatmulChoice } from "../lib/ops/matmul_variants.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest, testGpu } from "./_gpu.ts";
import assert from "node:assert/strict";

for (const dtype of ["f32", "bf16", "qwen2-bf16", "qwen3-bf16"] as const) {
  const { expected, checkpoint, adapter } = await goldenCase(dtype);
  const logitTol = (values: number[]) => ({ atol: 1e-4 * maxAbs(values), rtol: 0 });

  // Chunks of at most 4 tokens (decode-sized) fuse the RMSNorms and SwiGLU into the products'
  // loads where the device's choice says so (here: both ways); one chunk of all 11 tokens runs
  // them as kernels of their own.
  for (const [chunkTokens, fuseLoads] of [[4, true], [4, false], [16, true]] as const) {
    gpuTest(
      `GPU logits of the ${dtype} golden model match PyTorch, without and with the adapter ` +
        `(chunks of ${chunkTokens}${chunkTokens <= 4 ? `, fuseLoads ${fuseLoads}` : ""})`,
      async (gpu) => {
        const saved = gpu.kernels.matmul;
        setMatmulChoice(gpu, { ...saved, fuseLoads });
        try {
          const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
          const model = new GpuEngine(gpu, checkpoint.config, weights, {
            maxContext: 32,
            chunkTokens,
          });
          const base = await model.logits(expected.ids);
          assertClose(base, expected.logits_base, {
            ...logitTol(expected.logits_base),
            label: `${dtype} base`,
          });
          const lora = new GpuLoraAdapter(gpu, checkpoint.config, adapter);
          model.setAdapter(lora);
          const adapted = await model.logits(expected.ids);
          assertClose(adapted, expected.logits_with_adapter, {
            ...logitTol(expected.logits_with_adapter),
            label: `${dtype} adapter`,
          });
          model.setAdapter(null); // switching back needs no reload
          assertClose(await model.logits(expected.ids), base, {
            atol: 0,
            rtol: 0,
            label: "base again",
          });
          model.dispose();
        } finally {
          setMatmulChoice(gpu, saved);
        }
      },
    );
  }

  gpuTest(
    `GPU KV-cache decode of the ${dtype} golden model equals the full forward`,
    async (gpu) => {
      const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
      const model = new GpuEngine(gpu, checkpoint.config, weights, {
        maxContext: 16,
        chunkTokens: 3,
      });
      const V = checkpoint.config.vocabSize, ids = expected.ids;
      const full = await model.logits(ids);
      const row = (t: number) => full.subarray(t * V, (t + 1) * V);
      const tol = { atol: 1e-5 * maxAbs(full), rtol: 1e-4 };
      assertClose(await model.prefill(ids.slice(0, 5)), row(4), { ...tol, label: "prefill" });
      for (let t = 5; t < ids.length; t++) {
        assertClose(await model.decode(ids[t]), row(t), { ...tol, label: `decode ${t}` });
      }
      model.dispose();
    },
  );

  gpuTest(
    `GPU ${dtype} model with its embedding split into chunks equals the unsplit model`,
    async (gpu) => {
      const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
      const model = new GpuEngine(gpu, checkpoint.config, weights, { maxContext: 16 });
      const whole = await model.logits(expected.ids);
      const small = await testGpu({ maxBindingBytes: 20_000 });
      const split = uploadWeights(small, checkpoint.config, checkpoint.tensors);
      assert.ok(
        split.embed.chunks.length >= 3,
        `expected ≥3 chunks, got ${split.embed.chunks.length}`,
      );
      const chunked = new GpuEngine(small, checkpoint.config, split, { maxContext: 16 });
      assertClose(await chunked.logits(expected.ids), whole, {
        atol: 1e-5 * maxAbs(whole),
        rtol: 0,
        label: "chunked",
      });
      model.dispose();
      chunked.dispose();
    },
  );
}
