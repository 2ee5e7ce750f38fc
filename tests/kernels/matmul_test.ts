// Tests of kernels/matmul.wgsl through recordMatmul, recordLinear and recordLinearBackward.
// Dimensions: M rows of C, N columns of C, K the reduced dimension.
import assert from "node:assert/strict";
import { assertClose, maxAbs } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, testGpu, upload } from "../_gpu.ts";
import { linearBackward, linearForward } from "../../lib/reference/linear.ts";
import { matmulNT } from "../../lib/reference/matmul.ts";
import { recordLinear, recordLinearBackward, recordMatmul } from "../../lib/ops/matmul.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded, storeAs, tensorOf, transpose, WEIGHT_DTYPES } from "./_kernels.ts";

const [M, N, K] = [13, 70, 37];

gpuTest("matmul matches the reference for every A layout, B layout and B dtype", async (gpu) => {
  const rng = new Rng(1);
  const a = randomF32(rng, M * K); // (M, K)
  const aT = transpose(a, M, K); // (K, M)
  const cases = WEIGHT_DTYPES.flatMap((dtype) => {
    const { rounded } = storeAs(randomF32(rng, N * K), dtype); // (N, K)
    const expected = matmulNT(a, rounded, M, K, N); // (M, N)
    return (["nk", "kn"] as const).flatMap((bLayout) => {
      const stored = bLayout === "nk" ? rounded : transpose(rounded, N, K); // (N, K) or (K, N)
      const b = upload(gpu, storeAs(stored, dtype).bytes);
      return [false, true].map((aTransposed) => ({
        dtype,
        bLayout,
        aTransposed,
        b,
        expected,
        c: emptyF32(gpu, M * N), // (M, N)
      }));
    });
  });
  const aBuf = upload(gpu, a), aTBuf = upload(gpu, aT);
  await runRecorded(gpu, "matmul", (rec) => {
    for (const { dtype, bLayout, aTransposed, b, c } of cases) {
      const args = { b, c, M, N, K, bLayout, bDtype: dtype };
      recordMatmul(rec, { ...args, a: aTransposed ? aTBuf : aBuf, aTransposed });
    }
  });
  for (const { dtype, bLayout, aTransposed, c, expected } of cases) {
    assertClose(await readF32(gpu, c, M * N), expected, {
      atol: 1e-5,
      rtol: 1e-4,
      label: `matmul A${aTransposed ? "ᵀ" : ""} B ${bLayout} ${dtype}`,
    });
  }
});

/**
 * A matrix `rows × cols` (logical) stored row by row with stride `ld` after `off` elements,
 * or transposed (cols × rows) when `transposed`; other elements are random padding.
 */
function strided(
  rng: Rng,
  logical: Float32Array,
  rows: number,
  cols: number,
  ld: number,
  off: number,
  transposed: boolean,
): Float32Array {
  const stored = transposed ? transpose(logical, rows, cols) : logical;
  const [outer, inner] = transposed ? [cols, rows] : [rows, cols];
  const out = randomF32(rng, off + outer * ld + 1); // padding, then (outer, ld)
  for (let r = 0; r < outer; r++) {
    out.set(stored.subarray(r * inner, (r + 1) * inner), off + r * ld);
  }
  return out;
}

gpuTest("matmul honours offsets, strides, alpha and accumulate in every layout", async (gpu) => {
  const rng = new Rng(2);
  const [ldc, cOff, alpha] = [N + 2, 11, -0.75];
  const a = randomF32(rng, M * K); // (M, K)
  const c0 = randomF32(rng, cOff + M * ldc + 4); // (M, ldc) after cOff
  for (const dtype of WEIGHT_DTYPES) {
    const b = storeAs(randomF32(rng, N * K), dtype).rounded; // (N, K)
    const product = matmulNT(a, b, M, K, N); // (M, N)
    const expected = c0.slice(); // untouched outside the (M, N) window
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) expected[cOff + m * ldc + n] += alpha * product[m * N + n];
    }
    for (const [aTransposed, bLayout] of [[false, "nk"], [true, "kn"]] as const) {
      const lda = (aTransposed ? M : K) + 3, ldb = (bLayout === "kn" ? N : K) + 5;
      const [aOff, bOff] = [7, 3]; // an odd bOff puts bf16 rows in the high halves
      const c = upload(gpu, c0);
      await runRecorded(gpu, "matmul strided", (rec) =>
        recordMatmul(rec, {
          a: upload(gpu, strided(rng, a, M, K, lda, aOff, aTransposed)),
          b: upload(gpu, storeAs(strided(rng, b, N, K, ldb, bOff, bLayout === "kn"), dtype).bytes),
          c,
          M,
          N,
          K,
          bLayout,
          bDtype: dtype,
          aTransposed,
          lda,
          ldb,
          ldc,
          aOffset: aOff,
          bOffset: bOff,
          cOffset: cOff,
          alpha,
          accumulate: true,
        }));
      assertClose(await readF32(gpu, c, expected.length), expected, {
        atol: 1e-5,
        rtol: 1e-4,
        label: `strided matmul A${aTransposed ? "ᵀ" : ""} B ${bLayout} ${dtype}`,
      });
    }
  }
});

gpuTest(
  "recordLinear over a weight in several chunks equals the unchunked product",
  async (gpu) => {
    const rng = new Rng(3);
    const [rows, xOff, yOff, Kw] = [5, 2, 1, 38]; // bf16 rows must be whole words to split
    const x = randomF32(rng, (xOff + rows) * Kw); // (xOff + rows, K)
    const w = randomF32(rng, N * Kw); // (N, K)
    const small = await testGpu({ maxBindingBytes: 16 * Kw * 2 }); // 16 bf16 rows per chunk
    const results = [];
    for (const device of [gpu, small]) {
      const weight = tensorOf(device, [N, Kw], w, "bf16");
      const y = emptyF32(device, (yOff + rows) * N);
      await runRecorded(device, "linear", (rec) =>
        recordLinear(rec, upload(device, x), y, {
          weight: weight.tensor,
          rows,
          xRowOffset: xOff,
          yRowOffset: yOff,
        }));
      results.push({
        chunks: weight.tensor.chunks.length,
        y: await readF32(device, y, (yOff + rows) * N),
      });
      if (device === small) {
        const expected = new Float32Array((yOff + rows) * N);
        expected.set(linearForward(x.subarray(xOff * Kw), weight.rounded, rows, Kw, N), yOff * N);
        assertClose(results[1].y, expected, { atol: 1e-5, rtol: 1e-4, label: "chunked linear" });
      }
    }
    assert.deepEqual(results.map((r) => r.chunks), [1, 5]);
    assertClose(results[1].y, results[0].y, { atol: 0, rtol: 0, label: "chunked vs unchunked" });
  },
);

gpuTest("recordLinearBackward over a chunked weight matches the reference", async () => {
  const rng = new Rng(4);
  const [rows, Kw] = [6, 38];
  const gpu = await testGpu({ maxBindingBytes: 16 * Kw * 4 }); // 16 f32 rows per chunk
  const dy = randomF32(rng, rows * N); // (rows, N)
  const w = randomF32(rng, N * Kw); // (N, K)
  const dx0 = randomF32(rng, rows * Kw); // (rows, K)
  for (const accumulate of [false, true]) {
    const weight = tensorOf(gpu, [N, Kw], w, "f32");
    assert.equal(weight.tensor.chunks.length, 5);
    const dx = upload(gpu, dx0);
    await runRecorded(
      gpu,
      "linear backward",
      (rec) =>
        recordLinearBackward(rec, upload(gpu, dy), dx, {
          weight: weight.tensor,
          rows,
          alpha: 0.5,
          accumulate,
        }),
    );
    const grad = linearBackward(dy, w, rows, Kw, N); // (rows, K)
    const expected = grad.map((g, i) => 0.5 * g + (accumulate ? dx0[i] : 0));
    assertClose(await readF32(gpu, dx, rows * Kw), expected, {
      atol: 1e-5 * maxAbs(expected),
      rtol: 1e-4,
      label: `linear backward over ${weight.tensor.chunks.length} chunks, accumulate ${accumulate}`,
    });
  }
});
