// Tests of kernels/embedding.wgsl through recordEmbedding.
// Dimensions: R rows (tokens), V vocab, D hidden.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, testGpu, upload } from "../_gpu.ts";
import { recordEmbedding } from "../../lib/ops/embedding.ts";
import { embeddingForward } from "../../lib/reference/embedding.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded, tensorOf, WEIGHT_DTYPES } from "./_kernels.ts";

const [V, D] = [37, 70];
const ids = [0, 36, 5, 17, 9, 36, 0, 22, 30, 11, 18]; // (R) first, last, repeats, every chunk

gpuTest("embedding gathers rows of a table split into chunks, for every dtype", async (gpu) => {
  const rng = new Rng(10);
  const table = randomF32(rng, V * D); // (V, D)
  const small = await testGpu({ maxBindingBytes: 10 * D * 2 }); // 10 bf16/f16 rows, 5 f32 rows
  for (const device of [gpu, small]) {
    for (const dtype of WEIGHT_DTYPES) {
      const stored = tensorOf(device, [V, D], table, dtype);
      const out = upload(device, new Float32Array(ids.length * D).fill(Number.NaN)); // (R, D)
      await runRecorded(
        device,
        "embedding",
        (rec) =>
          recordEmbedding(
            rec,
            upload(device, new Uint32Array(ids)),
            stored.tensor,
            out,
            ids.length,
          ),
      );
      const chunks = stored.tensor.chunks.length;
      assert.equal(chunks, device === gpu ? 1 : dtype === "f32" ? 8 : 4);
      assertClose(
        await readF32(device, out, ids.length * D),
        embeddingForward(stored.rounded, ids, V, D),
        { atol: 0, rtol: 0, label: `embedding ${dtype} in ${chunks} chunks` },
      );
    }
  }
});

gpuTest("embedding writes only the rows it is asked for", async (gpu) => {
  const rng = new Rng(11);
  const table = tensorOf(gpu, [V, D], randomF32(rng, V * D), "bf16");
  const rows = 4;
  const out = emptyF32(gpu, ids.length * D); // (R, D)
  await runRecorded(
    gpu,
    "embedding",
    (rec) => recordEmbedding(rec, upload(gpu, new Uint32Array(ids)), table.tensor, out, rows),
  );
  const got = await readF32(gpu, out, ids.length * D);
  assertClose(got.subarray(0, rows * D), embeddingForward(table.rounded, ids.slice(0, rows), V, D));
  assert.ok(got.subarray(rows * D).every((x) => x === 0), "rows past `rows` were written");
});
