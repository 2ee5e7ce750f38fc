// Tests of kernels/bgmv_shrink.wgsl and bgmv_expand.wgsl through recordBgmvShrink and
// recordBgmvExpand against the plain reference (lib/reference/bgmv.ts), which never pads.
// Dimensions: N rows, IN / OUT features, R padded rank, NS slots.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { padLoraToRank, recordBgmvExpand, recordBgmvShrink } from "../../lib/ops/bgmv.ts";
import { bgmvForward, type RowAdapter } from "../../lib/reference/bgmv.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

gpuTest(
  "bgmv: each row gets its own adapter's LoRA, rows without one are unchanged, ranks padded",
  async (gpu) => {
    const rng = new Rng(151);
    const N = 7, IN = 70, OUT = 45, R = 8; // IN past one stride of 64, OUT not a multiple of 64
    const ranks = [8, 3, 5]; // slots of different ranks, padded to R
    const adapters: RowAdapter[] = ranks.map((rank, s) => ({
      a: randomF32(rng, rank * IN),
      b: randomF32(rng, OUT * rank),
      rank,
      scale: [2, 0.5, 1.25][s],
    }));
    const slots = [1, -1, 0, 2, 1, -1, 2]; // mixed, repeated, and rows without an adapter
    const dims = { inFeatures: IN, outFeatures: OUT };
    const stackA = new Float32Array(ranks.length * R * IN); // (NS, R, IN)
    const stackB = new Float32Array(ranks.length * OUT * R); // (NS, OUT, R)
    adapters.forEach((adapter, s) => {
      const padded = padLoraToRank(adapter, R, dims);
      stackA.set(padded.a, s * R * IN);
      stackB.set(padded.b, s * OUT * R);
    });
    const x = randomF32(rng, N * IN); // (N, IN)
    const y = randomF32(rng, N * OUT); // (N, OUT) the base product's output
    const yBuf = upload(gpu, y), uBuf = emptyF32(gpu, N * R);
    const common = {
      adapterIndex: upload(gpu, new Uint32Array(new Int32Array(slots).buffer)),
      rows: N,
      rank: R,
      u: uBuf,
    };
    await runRecorded(gpu, "bgmv", (rec) => {
      recordBgmvShrink(rec, {
        ...common,
        x: upload(gpu, x),
        a: upload(gpu, stackA),
        inFeatures: IN,
      });
      recordBgmvExpand(rec, {
        ...common,
        b: upload(gpu, stackB),
        scale: upload(gpu, new Float32Array(adapters.map((a) => a.scale))),
        y: yBuf,
        outFeatures: OUT,
      });
    });
    const expected = y.slice();
    bgmvForward(expected, x, slots, adapters, dims);
    const got = await readF32(gpu, yBuf, N * OUT);
    assertClose(got, expected, { atol: 1e-4, rtol: 1e-4 });
    for (const n of [1, 5]) { // rows without an adapter keep the base product bit for bit
      assert.deepEqual(got.subarray(n * OUT, (n + 1) * OUT), y.subarray(n * OUT, (n + 1) * OUT));
    }
    const u = await readF32(gpu, uBuf, N * R);
    assert.deepEqual([...u.subarray(0 * R + 3, 1 * R)], new Array(R - 3).fill(0)); // row 0's slot has rank 3: padding
  },
);

Deno.test("padLoraToRank refuses a rank above the slots' rank", () => {
  assert.throws(
    () =>
      padLoraToRank({ a: new Float32Array(6), b: new Float32Array(6), rank: 3 }, 2, {
        inFeatures: 2,
        outFeatures: 2,
      }),
    /rank 3 exceeds the slots' rank 2/,
  );
});
