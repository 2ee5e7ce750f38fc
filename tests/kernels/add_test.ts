// Tests of kernels/add.wgsl through recordAdd. Dimensions: N elements.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordAdd } from "../../lib/ops/elementwise.ts";
import { residualAdd } from "../../lib/reference/residual.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const n = 1000; // several workgroups of 256, the last one partial

gpuTest("add computes y += alpha·x and leaves elements past n alone", async (gpu) => {
  const rng = new Rng(51);
  const x = randomF32(rng, n + 3); // (N + 3)
  const y0 = randomF32(rng, n + 3); // (N + 3)
  for (const alpha of [1, -0.25]) {
    const y = upload(gpu, y0);
    await runRecorded(gpu, "add", (rec) => recordAdd(rec, upload(gpu, x), y, n, alpha));
    const expected = y0.slice(0, n);
    residualAdd(expected, x.subarray(0, n).map((xi) => alpha * xi));
    assertClose(await readF32(gpu, y, n + 3), [...expected, ...y0.subarray(n)], {
      atol: 1e-6,
      rtol: 1e-6,
      label: `add alpha ${alpha}`,
    });
  }
});
