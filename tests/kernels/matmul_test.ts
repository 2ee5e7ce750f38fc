// Tests of kernels/matmul.wgsl and kernels/matmul_vec4.wgsl through recordMatmul, recordLinear
// and recordLinearBackward, for every kernel variant.
// Dimensions: M rows of C, N columns of C, K the reduced dimension.
import assert from "node:assert/strict";
import { assertClose, maxAbs } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, testGpu, upload } from "../_gpu.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { CommandRecorder, type Dispatch } from "../../lib/gpu/recorder.ts";
import { linearBackward, linearForward } from "../../lib/reference/linear.ts";
import { matmulNT } from "../../lib/reference/matmul.ts";
import { rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { swigluForward } from "../../lib/reference/swiglu.ts";
import { recordLinear, recordLinearBackward, recordMatmul } from "../../lib/ops/matmul.ts";
import { recordTranspose } from "../../lib/ops/transpose.ts";
import type { MatmulVariantName } from "../../lib/gpu/kernel_choices.ts";
import { MATMUL_VARIANTS, setMatmulChoice } from "../../lib/ops/matmul_variants.ts";
import { Rng } from "../../lib/util/rng.ts";
import {
  randomF32,
  rowsOfStd,
  runRecorded,
  storeAs,
  tensorOf,
  transpose,
  WEIGHT_DTYPES,
} from "./_kernels.ts";

const VARIANTS = Object.keys(MATMUL_VARIANTS) as MatmulVariantName[];

/** Wraps `rec.dispatch` so that every dispatch recorded from now on is also pushed to a list. */
function captureDispatches(rec: CommandRecorder): Dispatch[] {
  const seen: Dispatch[] = [];
  const dispatch = rec.dispatch.bind(rec);
  rec.dispatch = (d: Dispatch) => {
    seen.push(d);
    dispatch(d);
  };
  return seen;
}

/** Runs `body` with `variant` as each device's choice for every M, then restores the choices. */
async function withChoice(gpus: Gpu[], variant: MatmulVariantName, body: () => Promise<void>) {
  const saved = gpus.map((gpu) => gpu.kernels.matmul);
  for (const gpu of gpus) setMatmulChoice(gpu, { small: variant, large: variant });
  try {
    await body();
  } finally {
    gpus.forEach((gpu, i) => setMatmulChoice(gpu, saved[i]));
  }
}

/** The kernel and the VEC constant (vec4 reads) of a dispatch. */
function kernelOf(d: Dispatch): string {
  return d.kernel === "matmul_vec4" ? `matmul_vec4 VEC=${d.constants?.VEC}` : d.kernel;
}

/** The kernel a variant runs, with vec4 reads or not. */
function expectedKernel(variant: MatmulVariantName, vec: boolean): string {
  return MATMUL_VARIANTS[variant].kernel === "matmul" ? "matmul" : `matmul_vec4 VEC=${vec ? 1 : 0}`;
}

// (M, N, K): K = 37 has a partial block and unaligned rows; every row of (20, 72, 64), in either
// layout, starts on a 16-byte word, so it is read as vec4 words.
const SHAPES = [[13, 70, 37], [20, 72, 64]] as const;
const [M, N, K] = SHAPES[0];

gpuTest("every matmul variant matches the reference for every layout and B dtype", async (gpu) => {
  const rng = new Rng(1);
  for (const [M, N, K] of SHAPES) {
    const a = randomF32(rng, M * K); // (M, K)
    const aBuf = upload(gpu, a), aTBuf = upload(gpu, transpose(a, M, K)); // (M, K), (K, M)
    const cases = WEIGHT_DTYPES.flatMap((dtype) => {
      const { rounded } = storeAs(randomF32(rng, N * K), dtype); // (N, K)
      const expected = matmulNT(a, rounded, M, K, N); // (M, N)
      return (["nk", "kn"] as const).flatMap((bLayout) => {
        const stored = bLayout === "nk" ? rounded : transpose(rounded, N, K); // (N, K) or (K, N)
        const b = upload(gpu, storeAs(stored, dtype).bytes);
        return [false, true].flatMap((aTransposed) =>
          VARIANTS.map((variant) => ({ dtype, bLayout, aTransposed, variant, b, expected }))
        );
      });
    });
    const c = emptyF32(gpu, cases.length * M * N); // (cases, M, N)
    let dispatches: Dispatch[] = [];
    await runRecorded(gpu, "matmul", (rec) => {
      dispatches = captureDispatches(rec);
      cases.forEach(({ dtype, bLayout, aTransposed, variant, b }, i) => {
        const args = { b, c, M, N, K, bLayout, bDtype: dtype, variant, cOffset: i * M * N };
        recordMatmul(rec, { ...args, a: aTransposed ? aTBuf : aBuf, aTransposed });
      });
    });
    const vec = K % 8 === 0; // every row starts on a 16-byte word
    assert.deepEqual(
      dispatches.map(kernelOf),
      cases.map(({ variant }) => expectedKernel(variant, vec)),
    );
    const results = await readF32(gpu, c, cases.length * M * N); // (cases, M, N)
    for (const [i, { dtype, bLayout, aTransposed, variant, expected }] of cases.entries()) {
      assertClose(results.subarray(i * M * N, (i + 1) * M * N), expected, {
        atol: 1e-5,
        rtol: 1e-4,
        label: `${variant} ${M}×${N}×${K} A${aTransposed ? "ᵀ" : ""} B ${bLayout} ${dtype}`,
      });
    }
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

/** `values` zero-padded to a multiple of 8 values: whole 16-byte words in f32, bf16 and f16. */
function padTo8(values: Float32Array): Float32Array {
  const out = new Float32Array(Math.ceil(values.length / 8) * 8);
  out.set(values);
  return out;
}

gpuTest("every matmul variant honours offsets, strides, alpha and accumulate", async (gpu) => {
  const rng = new Rng(2);
  const [ldc, cOff, alpha] = [N + 2, 11, -0.75];
  const a = randomF32(rng, M * K); // (M, K)
  const c0 = randomF32(rng, cOff + M * ldc + 4); // (M, ldc) after cOff
  // Unaligned: an odd bOff puts bf16 rows in the high halves. Aligned: every row starts on a
  // 16-byte word (strides rounded up to 8 values), and the last block of K is partial.
  const roundUp8 = (n: number) => Math.ceil(n / 8) * 8;
  const offsets = [
    { aOff: 7, bOff: 3, ld: (dense: number, pad: number) => dense + pad, vec: false },
    { aOff: 8, bOff: 16, ld: (dense: number, pad: number) => roundUp8(dense + pad), vec: true },
  ];
  for (const dtype of WEIGHT_DTYPES) {
    const b = storeAs(randomF32(rng, N * K), dtype).rounded; // (N, K)
    const product = matmulNT(a, b, M, K, N); // (M, N)
    const expected = c0.slice(); // untouched outside the (M, N) window
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) expected[cOff + m * ldc + n] += alpha * product[m * N + n];
    }
    for (const { aOff, bOff, ld, vec } of offsets) {
      for (const [aTransposed, bLayout] of [[false, "nk"], [true, "kn"]] as const) {
        const lda = ld(aTransposed ? M : K, 3), ldb = ld(bLayout === "kn" ? N : K, 5);
        const aStored = padTo8(strided(rng, a, M, K, lda, aOff, aTransposed));
        const bStored = padTo8(strided(rng, b, N, K, ldb, bOff, bLayout === "kn"));
        for (const variant of VARIANTS) {
          const c = upload(gpu, c0);
          let dispatches: Dispatch[] = [];
          await runRecorded(gpu, "matmul strided", (rec) => {
            dispatches = captureDispatches(rec);
            recordMatmul(rec, {
              a: upload(gpu, aStored),
              b: upload(gpu, storeAs(bStored, dtype).bytes),
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
              variant,
            });
          });
          assert.deepEqual(dispatches.map(kernelOf), [expectedKernel(variant, vec)]);
          assertClose(await readF32(gpu, c, expected.length), expected, {
            atol: 1e-5,
            rtol: 1e-4,
            label: `${variant} strided A${aTransposed ? "ᵀ" : ""} B ${bLayout} ${dtype} ` +
              `offsets ${aOff}/${bOff}`,
          });
        }
      }
    }
  }
});

gpuTest(
  "recordLinear over a weight in several chunks equals the unchunked product",
  async (gpu) => {
    const rng = new Rng(3);
    const [rows, xOff, Kw] = [5, 2, 38]; // bf16 rows must be whole words to split
    const x = randomF32(rng, (xOff + rows) * Kw); // (xOff + rows, K)
    const w = randomF32(rng, N * Kw); // (N, K)
    const small = await testGpu({ maxBindingBytes: 16 * Kw * 2 }); // 16 bf16 rows per chunk
    for (const variant of VARIANTS) {
      await withChoice([gpu, small], variant, async () => {
        const results = [];
        for (const device of [gpu, small]) {
          const weight = tensorOf(device, [N, Kw], w, "bf16");
          const y = emptyF32(device, rows * N); // (rows, N)
          await runRecorded(device, "linear", (rec) =>
            recordLinear(rec, upload(device, x), y, {
              weight: weight.tensor,
              rows,
              xRowOffset: xOff,
            }));
          results.push({
            chunks: weight.tensor.chunks.length,
            y: await readF32(device, y, rows * N),
          });
          if (device === small) {
            const expected = linearForward(x.subarray(xOff * Kw), weight.rounded, rows, Kw, N); // (rows, N)
            assertClose(results[1].y, expected, {
              atol: 1e-5,
              rtol: 1e-4,
              label: `${variant} chunked linear`,
            });
          }
        }
        assert.deepEqual(results.map((r) => r.chunks), [1, 5]);
        assertClose(results[1].y, results[0].y, {
          atol: 0,
          rtol: 0,
          label: `${variant} chunked vs unchunked`,
        });
      });
    }
  },
);

/** Elementwise a + s·b. */
function plusScaled(a: Float32Array, b: Float32Array, s: number): Float32Array {
  return a.map((v, i) => v + s * b[i]);
}

const EPS = 1e-5, RANK = 3, LORA_SCALE = 0.75;

gpuTest(
  "every matmul variant fuses RMSNorm or SwiGLU into its load of A and a LoRA branch into its store",
  async (gpu) => {
    const rng = new Rng(7);
    // eps 1e-6 as well as EPS: in the rows of std 1e-3 (the only row when M = 1) mean(x²) is
    // near eps, so eps moves the normed product by a factor of about 3; zero rows give 0.
    const cases = [[...SHAPES[0], EPS], [...SHAPES[1], 1e-6], [1, 70, 64, 1e-6]];
    for (const [M, N, K, eps] of cases) {
      const x = rowsOfStd(rng, M, K); // (M, K), rows of std 1e-3, 3 and 0: the norm matters
      const u = randomF32(rng, M * RANK); // (M, R)
      const l = randomF32(rng, N * RANK); // (N, R)
      const c0 = randomF32(rng, M * N); // (M, N), what an accumulating product adds to
      const weight = tensorOf(gpu, [N, K], randomF32(rng, N * K), "bf16"); // (N, K)
      const up = randomF32(rng, M * K); // (M, K), SwiGLU's second input (x is the gate)
      const branch = matmulNT(u, l, M, RANK, N); // (M, N)
      const [xBuf, uBuf, lBuf, upBuf] = [x, u, l, up].map((a) => upload(gpu, a));
      for (const gDtype of WEIGHT_DTYPES) {
        const g = tensorOf(gpu, [K], randomF32(rng, K), gDtype); // (K)
        const normed = rmsnormForward(x, g.rounded, M, K, eps).y; // (M, K)
        const plain = matmulNT(x, weight.rounded, M, K, N); // (M, N)
        const normedProduct = matmulNT(normed, weight.rounded, M, K, N); // (M, N)
        const gatedProduct = matmulNT(swigluForward(x, up), weight.rounded, M, K, N); // (M, N)
        const norm = { weight: g.tensor, eps };
        const lora = { u: uBuf, b: lBuf, rank: RANK, scale: LORA_SCALE };
        const fusions = [
          { name: "norm", norm, expected: normedProduct },
          { name: "lora", lora, expected: plusScaled(plain, branch, LORA_SCALE) },
          {
            name: "norm + lora, accumulating",
            norm,
            lora,
            accumulate: true,
            expected: plusScaled(plusScaled(normedProduct, branch, LORA_SCALE), c0, 1),
          },
          {
            name: "swiglu + lora",
            swigluUp: upBuf,
            lora,
            expected: plusScaled(gatedProduct, branch, LORA_SCALE),
          },
        ];
        for (const variant of VARIANTS) {
          const c = fusions.map(() => upload(gpu, c0)); // (M, N) each
          await runRecorded(
            gpu,
            "fused matmul",
            (rec) =>
              fusions.forEach((f, i) =>
                recordMatmul(rec, {
                  a: xBuf,
                  b: weight.tensor.chunks[0].buffer,
                  c: c[i],
                  M,
                  N,
                  K,
                  bLayout: "nk",
                  bDtype: "bf16",
                  variant,
                  ...f,
                })
              ),
          );
          for (const [i, f] of fusions.entries()) {
            assertClose(await readF32(gpu, c[i], M * N), f.expected, {
              atol: 1e-4,
              rtol: 1e-4,
              label: `${variant} ${M}×${N}×${K} ${f.name}, g ${gDtype}, eps ${eps}`,
            });
          }
        }
      }
    }
  },
);

gpuTest(
  "recordLinear over a chunked weight fuses the norm and gives each chunk its rows of LoRA B",
  async () => {
    const rng = new Rng(8);
    const [rows, Kw] = [5, 40];
    const x = randomF32(rng, rows * Kw, 2); // (rows, K)
    const u = randomF32(rng, rows * RANK); // (rows, R)
    const l = randomF32(rng, N * RANK); // (N, R)
    const small = await testGpu({ maxBindingBytes: 16 * Kw * 2 }); // 16 bf16 rows per chunk
    const weight = tensorOf(small, [N, Kw], randomF32(rng, N * Kw), "bf16"); // (N, K)
    const g = tensorOf(small, [Kw], randomF32(rng, Kw), "bf16"); // (K)
    assert.equal(weight.tensor.chunks.length, 5);
    const normed = rmsnormForward(x, g.rounded, rows, Kw, EPS).y; // (rows, K)
    const expected = plusScaled(
      linearForward(normed, weight.rounded, rows, Kw, N),
      matmulNT(u, l, rows, RANK, N),
      LORA_SCALE,
    ); // (rows, N)
    for (const variant of VARIANTS) {
      await withChoice([small], variant, async () => {
        const y = emptyF32(small, rows * N); // (rows, N)
        await runRecorded(small, "fused linear", (rec) =>
          recordLinear(rec, upload(small, x), y, {
            weight: weight.tensor,
            rows,
            norm: { weight: g.tensor, eps: EPS },
            lora: { u: upload(small, u), b: upload(small, l), rank: RANK, scale: LORA_SCALE },
          }));
        assertClose(await readF32(small, y, rows * N), expected, {
          atol: 1e-4,
          rtol: 1e-4,
          label: `${variant} chunked fused linear`,
        });
      });
    }
  },
);

gpuTest("fused loads and epilogues refuse combinations they cannot do", (gpu) => {
  const rng = new Rng(9);
  const buf = upload(gpu, randomF32(rng, 64));
  const g = tensorOf(gpu, [7], randomF32(rng, 7)).tensor;
  const args = {
    a: buf,
    b: buf,
    c: buf,
    M: 2,
    N: 4,
    K: 8,
    bLayout: "nk" as const,
    bDtype: "f32" as const,
  };
  const rec = new CommandRecorder(gpu);
  assert.throws(
    () => recordMatmul(rec, { ...args, aTransposed: true, norm: { weight: g, eps: EPS } }),
    /fused RMSNorm or SwiGLU needs A stored \(M, K\), not transposed/,
  );
  assert.throws(
    () => recordMatmul(rec, { ...args, aTransposed: true, swigluUp: buf }),
    /fused RMSNorm or SwiGLU needs A stored \(M, K\), not transposed/,
  );
  assert.throws(
    () => recordMatmul(rec, { ...args, swigluUp: buf, norm: { weight: g, eps: EPS } }),
    /loads A with RMSNorm or SwiGLU, not both/,
  );
  const lora = { u: buf, b: buf, rank: 1, scale: 1 };
  const crossEntropyGrad = { stats: buf, targets: buf, scale: 1, vocabOffset: 0 };
  assert.throws(
    () => recordMatmul(rec, { ...args, lora, crossEntropyGrad }),
    /one epilogue: LoRA or cross-entropy/,
  );
  assert.throws(
    () => recordMatmul(rec, { ...args, norm: { weight: g, eps: EPS } }),
    /RMSNorm weight of shape \(7\) does not match K = 8/,
  );
  rec.dispose();
});

gpuTest(
  "recordLinearBackward over a chunked weight, or its transposed copies, matches the reference",
  async () => {
    const rng = new Rng(4);
    const [rows, Kw] = [6, 38];
    const gpu = await testGpu({ maxBindingBytes: 16 * Kw * 4 }); // 16 f32 rows per chunk
    const dy = randomF32(rng, rows * N); // (rows, N)
    const dx0 = randomF32(rng, rows * Kw); // (rows, K)
    for (const dtype of ["f32", "bf16"] as const) {
      const weight = tensorOf(gpu, [N, Kw], randomF32(rng, N * Kw), dtype); // (N, K)
      assert.equal(weight.tensor.chunks.length, dtype === "f32" ? 5 : 3);
      const grad = linearBackward(dy, weight.rounded, rows, Kw, N); // (rows, K)
      const copies = weight.tensor.chunks.map((chunk) => {
        const copy = tensorOf(gpu, [Kw, chunk.rows], new Float32Array(Kw * chunk.rows), dtype);
        return copy.tensor; // (K, rows of the chunk)
      });
      await runRecorded(
        gpu,
        "transpose the chunks",
        (rec) =>
          weight.tensor.chunks.forEach((chunk, i) =>
            recordTranspose(rec, {
              src: chunk.buffer,
              dst: copies[i].chunks[0].buffer,
              rows: chunk.rows,
              cols: Kw,
              dtype,
            })
          ),
      );
      for (const variant of VARIANTS) {
        await withChoice([gpu], variant, async () => {
          for (const [accumulate, transposed] of [[false, undefined], [true, copies]] as const) {
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
                  transposed,
                }),
            );
            const expected = grad.map((g, i) => 0.5 * g + (accumulate ? dx0[i] : 0));
            assertClose(await readF32(gpu, dx, rows * Kw), expected, {
              atol: 1e-5 * maxAbs(expected),
              rtol: 1e-4,
              label: `${variant} ${dtype} linear backward over ${copies.length} chunks, ` +
                `accumulate ${accumulate}, ${transposed ? "transposed copies" : "the weight"}`,
            });
          }
        });
      }
    }
  },
);

gpuTest("recordMatmul uses the device's choice for the class of M", async (gpu) => {
  const K = 16;
  const a = emptyF32(gpu, 8 * K), b = emptyF32(gpu, 8 * K), c = emptyF32(gpu, 64); // (8, K), (8, K), (8, 8)
  const tiny = emptyF32(gpu, 2); // 8 bytes: too short to be read as a vec4 word
  const saved = gpu.kernels.matmul;
  setMatmulChoice(gpu, { small: "gemv", large: "blocked" });
  try {
    let dispatches: Dispatch[] = [];
    await runRecorded(gpu, "matmul choice", (rec) => {
      dispatches = captureDispatches(rec);
      for (const M of [1, 4, 5, 8]) {
        recordMatmul(rec, { a, b, c, M, N: 8, K, bLayout: "nk", bDtype: "f32" });
      }
      recordMatmul(rec, { a: tiny, b, c, M: 1, N: 8, K: 2, bLayout: "nk", bDtype: "f32" });
    });
    assert.deepEqual(
      dispatches.map((d) => [kernelOf(d), d.constants?.TM]),
      [
        ["matmul_vec4 VEC=1", 1],
        ["matmul_vec4 VEC=1", 1],
        ["matmul_vec4 VEC=1", 4],
        ["matmul_vec4 VEC=1", 4],
        ["matmul", undefined], // A shorter than a vec4 word falls back to the tiled kernel
      ],
    );
    await runRecorded(gpu, "matmul forced on a short buffer", (rec) =>
      assert.throws(
        () =>
          recordMatmul(rec, {
            a: tiny,
            b,
            c,
            M: 1,
            N: 8,
            K: 2,
            bLayout: "nk",
            bDtype: "f32",
            variant: "blocked",
          }),
        /Matmul variant blocked needs A and B buffers of at least 16 bytes, got A 8 and B 512 bytes/,
      ));
    // Preparing a one-row product builds the large-M kernel as well (on a device of its own,
    // whose pipeline cache starts empty, with the same choice).
    const fresh = await testGpu({});
    setMatmulChoice(fresh, { small: "gemv", large: "blocked" });
    const args = {
      a: emptyF32(fresh, 8 * K),
      b: emptyF32(fresh, 8 * K),
      c: emptyF32(fresh, 64),
      N: 8,
      K,
      bLayout: "nk",
      bDtype: "f32",
    } as const;
    const rec = new CommandRecorder(fresh);
    recordMatmul(rec, { ...args, M: 1 });
    rec.prepare();
    assert.equal(fresh.pipelines.size, 2);
    await runRecorded(fresh, "matmul after prepare", (rec) => recordMatmul(rec, { ...args, M: 8 }));
    assert.equal(fresh.pipelines.size, 2);
    rec.dispose();
  } finally {
    setMatmulChoice(gpu, saved);
  }
  assert.throws(
    () => setMatmulChoice(gpu, { small: "fastest" as MatmulVariantName, large: "tiled" }),
    /Unknown matmul variant "fastest"/,
  );
});
