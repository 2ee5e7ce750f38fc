// Tests of kernels/rmsnorm.wgsl through recordRmsnorm.
// Dimensions: R rows, D hidden.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRmsnorm } from "../../lib/ops/rmsnorm.ts";
import { rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, rowsOfStd, runRecorded, tensorOf, WEIGHT_DTYPES } from "./_kernels.ts";

gpuTest(
  "rmsnorm matches the reference for every weight dtype, awkward widths and rows where eps matters",
  async (gpu) => {
    const rng = new Rng(20);
    // 300 > the 256 threads of a workgroup. Rows of std 1e-3 have mean(x²) near eps, so eps
    // moves y by a factor of about 3 there; zero rows must give y = 0 and rstd = 1/√eps.
    for (const [rows, D, eps] of [[7, 70, 1e-5], [3, 300, 1e-6]]) {
      const x = rowsOfStd(rng, rows, D); // (R, D)
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
        const label = `rmsnorm ${rows}x${D} ${dtype} eps ${eps}`;
        assertClose(await readF32(gpu, y, rows * D), expected.y, {
          atol: 1e-5,
          rtol: 1e-4,
          label,
        });
        assertClose(await readF32(gpu, rstd, rows), expected.rstd, { rtol: 1e-5, label });
      }
    }
  },
);
