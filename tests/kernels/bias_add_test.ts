// Tests of kernels/bias_add.wgsl through recordBiasAdd. Dimensions: R rows, N columns.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordBiasAdd } from "../../lib/ops/bias_add.ts";
import { biasAdd } from "../../lib/reference/adapted_linear.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

gpuTest("bias_add adds b to every row and leaves elements past R·N alone", async (gpu) => {
  const rng = new Rng(61);
  const rows = 37, n = 29; // several workgroups of 256, the last one partial; N not a power of 2
  const y = randomF32(rng, rows * n + 5); // (R·N + 5)
  const b = randomF32(rng, n); // (N)
  const yBuf = upload(gpu, y);
  await runRecorded(
    gpu,
    "bias_add",
    (rec) => recordBiasAdd(rec, { bias: upload(gpu, b), y: yBuf, rows, n }),
  );
  const expected = y.slice();
  biasAdd(expected, b, rows, n);
  assertClose(await readF32(gpu, yBuf, rows * n + 5), expected, { atol: 1e-6, rtol: 1e-6 });
});
