// Tests of kernels/squared_norm.wgsl and kernels/clip_scale.wgsl through lib/ops/grad_norm.ts,
// against lib/reference/grad_norm.ts. Dimensions: N elements of one gradient tensor.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { recordClipScale, recordSquaredNormAccumulate } from "../../lib/ops/grad_norm.ts";
import { clipScale, squaredNorm } from "../../lib/reference/grad_norm.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

gpuTest(
  "squared norms of several tensors accumulate deterministically into one sum",
  async (gpu) => {
    const rng = new Rng(110);
    const tensors = [1000, 37, 5000, 1].map((len) => randomF32(rng, len)); // each (N)
    const bufs = tensors.map((t) => upload(gpu, t));
    const sums = [];
    for (let run = 0; run < 2; run++) {
      const sumSq = upload(gpu, new Float32Array([0.5])); // (1), starts non-zero
      await runRecorded(
        gpu,
        "squared norm",
        (rec) =>
          tensors.forEach((t, i) =>
            recordSquaredNormAccumulate(rec, { x: bufs[i], n: t.length, sumSq })
          ),
      );
      sums.push((await readF32(gpu, sumSq, 1))[0]);
    }
    const expected = 0.5 + tensors.reduce((s, t) => s + squaredNorm(t), 0);
    assertClose([sums[0]], [expected], { atol: 0, rtol: 1e-5 });
    assert.equal(sums[1], sums[0], "two runs gave different sums");
  },
);

gpuTest(
  "the clip scale matches the reference for large, small and disabled clipping",
  async (gpu) => {
    const sumSq = upload(gpu, new Float32Array([30.25])); // norm 5.5
    for (const maxNorm of [1, 5.4, 6, 0, -2]) {
      const gradScale = emptyF32(gpu, 1);
      await runRecorded(
        gpu,
        "clip scale",
        (rec) => recordClipScale(rec, { sumSq, gradScale, maxNorm }),
      );
      assertClose(await readF32(gpu, gradScale, 1), [clipScale(30.25, maxNorm)], {
        atol: 0,
        rtol: 1e-6,
        label: `maxNorm ${maxNorm}`,
      });
    }
  },
);
