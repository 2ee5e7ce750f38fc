// Tests of kernels/rmsnorm.wgsl through recordRmsnorm.
// Dimensions: R rows, D hidden.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRmsnorm } from "../../lib/ops/rmsnorm.ts";
import { rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded, tensorOf, WEIGHT_DTYPES } from "./_kernels.ts";

const eps = 1e-5;

gpuTest("rmsnorm matches the reference for every weight dtype and awkward widths", async (gpu) => {
  const rng = new Rng(20);
  for (const [rows, D] of [[7, 70], [3, 300]]) { // 300 > the 256 threads of a workgroup
    const x = randomF32(rng, rows * D, 3); // (R, D)
    for (const dtype of WEIGHT_DTYPES) {
      const weight = tensorOf(gpu, [D], randomF32(rng, D), dtype);
      const y = upload(gpu, new Float32Array(rows * D)); // (R, D)
      const rstd = upload(gpu, new Float32Array(rows)); // (R)
      await runRecorded(
        gpu,
        "rmsnorm",
        (rec) =>
          recordRmsnorm(rec, { x: upload(gpu, x), weight: weight.tensor, y, rstd, rows, eps }),
      );
      const expected = rmsnormForward(x, weight.rounded, rows, D, eps);
      const label = `rmsnorm ${rows}x${D} ${dtype}`;
      assertClose(await readF32(gpu, y, rows * D), expected.y, { atol: 1e-5, rtol: 1e-4, label });
      assertClose(await readF32(gpu, rstd, rows), expected.rstd, { rtol: 1e-5, label });
    }
  }
});
