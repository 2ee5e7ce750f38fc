// Tests of kernels/rmsnorm_backward.wgsl through recordRmsnormBackward.
// Dimensions: R rows, D hidden.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRmsnormBackward } from "../../lib/ops/rmsnorm_backward.ts";
import { rmsnormBackward, rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, rowsOfStd, runRecorded, tensorOf, WEIGHT_DTYPES } from "./_kernels.ts";

gpuTest(
  "rmsnorm backward matches the reference for every weight dtype and rows where eps matters, " +
    "with accumulate",
  async (gpu) => {
    const rng = new Rng(60);
    // 300 > the 256 threads of a workgroup. In rows of std 1e-3, mean(x²) is near eps, so
    // rstd² ≠ 1/mean(x²); in zero rows dx = rstd·w·dy with rstd = 1/√eps.
    for (const [rows, D, eps] of [[7, 70, 1e-5], [3, 300, 1e-6]]) {
      const x = rowsOfStd(rng, rows, D); // (R, D)
      const dy = randomF32(rng, rows * D); // (R, D)
      const dx0 = randomF32(rng, rows * D); // (R, D)
      for (const dtype of WEIGHT_DTYPES) {
        const weight = tensorOf(gpu, [D], randomF32(rng, D), dtype);
        const { rstd } = rmsnormForward(x, weight.rounded, rows, D, eps); // (R)
        const grad = rmsnormBackward(dy, x, weight.rounded, rstd, rows, D); // (R, D)
        for (const accumulate of [false, true]) {
          const dx = upload(gpu, dx0);
          await runRecorded(gpu, "rmsnorm backward", (rec) =>
            recordRmsnormBackward(rec, {
              x: upload(gpu, x),
              weight: weight.tensor,
              rstd: upload(gpu, rstd),
              dy: upload(gpu, dy),
              dx,
              rows,
              accumulate,
            }));
          const expected = accumulate ? grad.map((g, i) => g + dx0[i]) : grad;
          assertClose(await readF32(gpu, dx, rows * D), expected, {
            atol: 1e-5,
            rtol: 1e-4,
            label: `rmsnorm backward ${rows}x${D} ${dtype} eps ${eps} accumulate ${accumulate}`,
          });
        }
      }
    }
  },
);
