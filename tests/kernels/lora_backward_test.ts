// The four matmul calls of a LoRA layer's backward pass, against lib/reference/lora.ts:
// dB = s·dYᵀ·U, dU = s·dY·B, dA = dUᵀ·X, dX += dU·A, with U = X·Aᵀ from the forward pass.
// Dimensions: M rows (tokens), K input features, N output features, R rank.
import { assertClose, maxAbs } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { recordLoraBackward } from "../../lib/ops/lora.ts";
import { loraBackward, loraForward } from "../../lib/reference/lora.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

gpuTest("LoRA gradients from recordLoraBackward match loraBackward", async (gpu) => {
  const rng = new Rng(120);
  const [M, K, N, R, s] = [13, 37, 70, 5, 2.5];
  const x = randomF32(rng, M * K); // (M, K)
  const a = randomF32(rng, R * K, 0.2); // (R, K) lora_A
  const b = randomF32(rng, N * R, 0.2); // (N, R) lora_B
  const dy = randomF32(rng, M * N); // (M, N)
  const dx0 = randomF32(rng, M * K); // (M, K) the base layer's share of dX
  const u = loraForward(new Float32Array(M * N), x, a, b, s, { m: M, k: K, n: N, r: R }); // (M, R)
  const dx = dx0.slice();
  const ref = loraBackward(dy, x, u, a, b, s, dx, { m: M, k: K, n: N, r: R });
  const g = {
    x: upload(gpu, x),
    a: upload(gpu, a),
    b: upload(gpu, b),
    u: upload(gpu, u),
    dy: upload(gpu, dy),
    dA: emptyF32(gpu, R * K),
    dB: emptyF32(gpu, N * R),
    dU: emptyF32(gpu, M * R),
    dx: upload(gpu, dx0),
  };
  const shape = { rows: M, inFeatures: K, outFeatures: N, rank: R, scale: s };
  await runRecorded(gpu, "lora backward", (rec) => {
    recordLoraBackward(rec, shape, { ...g, du: g.dU, accumulateDx: true }); // dB, dU, dA, dX += dU·A
  });
  for (
    const [name, got, expected] of [
      ["dA", await readF32(gpu, g.dA, R * K), ref.dA],
      ["dB", await readF32(gpu, g.dB, N * R), ref.dB],
      ["dX", await readF32(gpu, g.dx, M * K), dx],
    ] as const
  ) {
    assertClose(got, expected, { atol: 1e-5 * maxAbs(expected), rtol: 1e-4, label: name });
  }
});
