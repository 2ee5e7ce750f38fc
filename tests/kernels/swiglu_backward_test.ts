// Tests of kernels/swiglu_backward.wgsl through recordSwigluBackward. Dimensions: N elements.
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { recordSwigluBackward } from "../../lib/ops/swiglu_backward.ts";
import { swigluBackward } from "../../lib/reference/swiglu.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

gpuTest("swiglu backward matches the reference and leaves elements past n alone", async (gpu) => {
  const rng = new Rng(61);
  const n = 1000; // several workgroups of 256, the last one partial
  const g = randomF32(rng, n + 3, 5); // (N + 3), large |g| reaches both tails of the sigmoid
  g[0] = -120; // exp(−g) overflows f32
  g[1] = 120;
  const u = randomF32(rng, n + 3); // (N + 3)
  const dh = randomF32(rng, n + 3); // (N + 3)
  const dg = emptyF32(gpu, n + 3), du = emptyF32(gpu, n + 3);
  await runRecorded(
    gpu,
    "swiglu backward",
    (rec) => recordSwigluBackward(rec, upload(gpu, g), upload(gpu, u), upload(gpu, dh), dg, du, n),
  );
  const expected = swigluBackward(dh, g, u);
  expected.dg.fill(0, n);
  expected.du.fill(0, n);
  const close = { atol: 1e-6, rtol: 1e-5 };
  assertClose(await readF32(gpu, dg, n + 3), expected.dg, { ...close, label: "dg" });
  assertClose(await readF32(gpu, du, n + 3), expected.du, { ...close, label: "du" });
});
