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

gpuTest("rmsnorm reads from xRowOffset and writes y and rstd from yRowOffset", async (gpu) => {
  const rng = new Rng(21);
  const [rows, D, xOff, yOff, total] = [3, 45, 4, 2, 8];
  const x = randomF32(rng, total * D); // (total, D)
  const y0 = randomF32(rng, total * D); // (total, D)
  const rstd0 = randomF32(rng, total); // (total)
  const weight = tensorOf(gpu, [D], randomF32(rng, D), "bf16");
  const y = upload(gpu, y0), rstd = upload(gpu, rstd0);
  await runRecorded(gpu, "rmsnorm offsets", (rec) =>
    recordRmsnorm(rec, {
      x: upload(gpu, x),
      weight: weight.tensor,
      y,
      rstd,
      rows,
      eps,
      xRowOffset: xOff,
      yRowOffset: yOff,
    }));
  const ref = rmsnormForward(x.subarray(xOff * D, (xOff + rows) * D), weight.rounded, rows, D, eps);
  const expectedY = y0.slice(), expectedRstd = rstd0.slice(); // other rows untouched
  expectedY.set(ref.y, yOff * D);
  expectedRstd.set(ref.rstd, yOff);
  assertClose(await readF32(gpu, y, total * D), expectedY, { atol: 1e-5, rtol: 1e-4, label: "y" });
  assertClose(await readF32(gpu, rstd, total), expectedRstd, { rtol: 1e-5, label: "rstd" });
});
