// Tests of kernels/swiglu.wgsl through recordSwiglu. Dimensions: N elements.
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { recordSwiglu } from "../../lib/ops/swiglu.ts";
import { swigluForward } from "../../lib/reference/swiglu.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const n = 1000; // several workgroups of 256, the last one partial

gpuTest("swiglu matches the reference and leaves elements past n alone", async (gpu) => {
  const rng = new Rng(50);
  const g = randomF32(rng, n + 3, 4); // (N + 3) with large |g| for both tails of the sigmoid
  const u = randomF32(rng, n + 3); // (N + 3)
  const h = emptyF32(gpu, n + 3);
  await runRecorded(
    gpu,
    "swiglu",
    (rec) => recordSwiglu(rec, upload(gpu, g), upload(gpu, u), h, n),
  );
  const expected = swigluForward(g, u);
  expected.fill(0, n);
  assertClose(await readF32(gpu, h, n + 3), expected, { atol: 1e-6, rtol: 1e-5 });
});
