// Tests of kernels/rmsnorm_backward.wgsl through recordRmsnormBackward.
// Dimensions: R rows, D hidden.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRmsnormBackward } from "../../lib/ops/rmsnorm_backward.ts";
import { rmsnormBackward, rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded, tensorOf, WEIGHT_DTYPES } from "./_kernels.ts";

gpuTest(
  "rmsnorm backward matches the reference for every weight dtype, with accumulate",
  async (gpu) => {
    const rng = new Rng(60);
    for (const [rows, D] of [[7, 70], [3, 300]]) { // 300 > the 256 threads of a workgroup
      const x = randomF32(rng, rows * D, 2); // (R, D)
      const dy = randomF32(rng, rows * D); // (R, D)
      const dx0 = randomF32(rng, rows * D); // (R, D)
      for (const dtype of WEIGHT_DTYPES) {
        const weight = tensorOf(gpu, [D], randomF32(rng, D), dtype);
        const { rstd } = rmsnormForward(x, weight.rounded, rows, D, 1e-5); // (R)
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
            label: `rmsnorm backward ${rows}x${D} ${dtype} accumulate ${accumulate}`,
          });
        }
      }
    }
  },
);
