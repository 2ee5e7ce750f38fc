// Tests of kernels/transpose.wgsl through recordTranspose: bit-exact against the plain
// transpose of the stored values, for every weight dtype and for shapes whose element count is
// odd (a 16-bit destination's last word half-filled).
// Dimensions: R rows and C columns of the source.
import assert from "node:assert/strict";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordTranspose } from "../../lib/ops/transpose.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded, storeAs, transpose, WEIGHT_DTYPES } from "./_kernels.ts";

const SHAPES = [[5, 7], [1, 9], [16, 3], [64, 48]] as const;

gpuTest(
  "recordTranspose copies every element to its transposed place, in every dtype",
  async (gpu) => {
    const rng = new Rng(11);
    for (const dtype of WEIGHT_DTYPES) {
      for (const [R, C] of SHAPES) {
        const { bytes, rounded } = storeAs(randomF32(rng, R * C), dtype); // (R, C)
        const words = Math.ceil(bytes.length / 4);
        const dst = upload(gpu, new Uint32Array(words).fill(0xdeadbeef)); // (C, R)
        await runRecorded(
          gpu,
          `transpose ${dtype}`,
          (rec) => recordTranspose(rec, { src: upload(gpu, bytes), dst, rows: R, cols: C, dtype }),
        );
        const got = new Uint8Array((await readF32(gpu, dst, words)).buffer);
        const expected = new Uint8Array(words * 4); // the tail of a half-filled word stays 0
        expected.set(storeAs(transpose(rounded, R, C), dtype).bytes);
        assert.deepEqual(got, expected, `${dtype} (${R}, ${C})`);
      }
    }
  },
);

gpuTest("recordTranspose rejects buffers too small for the matrix", async (gpu) => {
  const small = upload(gpu, new Uint32Array(2)); // 8 bytes
  await runRecorded(gpu, "transpose", (rec) => {
    assert.throws(
      () => recordTranspose(rec, { src: small, dst: small, rows: 3, cols: 3, dtype: "f32" }),
      /needs 36 bytes/,
    );
  });
});
