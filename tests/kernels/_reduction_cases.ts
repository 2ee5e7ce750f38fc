/**
 * The kernels with row reductions (`SUBGROUP_REDUCTION_KERNELS`) against the plain TypeScript
 * references, in whichever variant the device's choice picks (`MatmulChoice.subgroupReductions`):
 * RMSNorm forward and backward, the cross-entropy's loss (stats and finish), the gradient's
 * squared norm and the `gemv_split` GEMV. Each case returns what the GPU computed and what the
 * reference says, with the tolerance of the kernel's own test; the caller asserts. Browser-safe
 * (no `Deno`, no `node:`): `reduction_cases_test.ts` runs it under Deno (lavapipe: reductions in
 * workgroup memory), and tests/browser/library_browser_test.ts bundles it and runs it in
 * Chromium with the subgroup reductions forced (SwiftShader has subgroups).
 *
 * Dimensions: R rows, D hidden, V vocab, N, K a product's output and input features.
 *
 * @module
 */
import { type Gpu, withGpuErrors } from "../../lib/gpu/device.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import {
  recordCrossEntropyFinish,
  recordCrossEntropyReset,
  recordCrossEntropyStats,
} from "../../lib/ops/cross_entropy.ts";
import { recordSquaredNormAccumulate } from "../../lib/ops/grad_norm.ts";
import { recordMatmul } from "../../lib/ops/matmul.ts";
import { recordRmsnorm } from "../../lib/ops/rmsnorm.ts";
import { recordRmsnormBackward } from "../../lib/ops/rmsnorm_backward.ts";
import { crossEntropyForward, IGNORE_INDEX } from "../../lib/reference/cross_entropy.ts";
import { squaredNorm } from "../../lib/reference/grad_norm.ts";
import { matmulNT } from "../../lib/reference/matmul.ts";
import { rmsnormBackward, rmsnormForward } from "../../lib/reference/rmsnorm.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, rowsOfStd, tensorOf } from "./_kernels.ts";

/** One output of a case: the GPU's values, the reference's and the tolerance. */
export interface ReductionCase {
  /** What was computed. */
  label: string;
  /** The GPU's values. */
  actual: number[];
  /** The reference's values. */
  expected: number[];
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance. */
  rtol: number;
}

/** A buffer read back after the submit, and its length in f32 values. */
type Readback = [buffer: GPUBuffer, n: number];

/** Records with `record`, submits once, and returns the `reads` as f32 values. */
async function runAndRead(
  gpu: Gpu,
  what: string,
  record: (rec: CommandRecorder) => void,
  reads: Readback[],
): Promise<number[][]> {
  const rec = new CommandRecorder(gpu);
  try {
    return await withGpuErrors(gpu.device, what, async () => {
      record(rec);
      const pending = reads.map(([buffer, n]) => rec.read(buffer, 0, n * 4));
      rec.submit();
      return (await Promise.all(pending)).map((bytes) => Array.from(new Float32Array(bytes)));
    });
  } finally {
    rec.dispose();
  }
}

/** An f32 tensor's buffer holding `values`. */
function f32Buffer(gpu: Gpu, values: Float32Array): GPUBuffer {
  return tensorOf(gpu, [values.length], values).tensor.buffer;
}

/** Rows wider than a workgroup (256), of the stds where eps matters, and a bf16 weight. */
const [R, D, EPS] = [3, 1000, 1e-5];

async function rmsnormCases(gpu: Gpu, rng: Rng): Promise<ReductionCase[]> {
  const x = rowsOfStd(rng, R, D); // (R, D)
  const dy = randomF32(rng, R * D); // (R, D)
  const weight = tensorOf(gpu, [D], randomF32(rng, D), "bf16"); // (D)
  const want = rmsnormForward(x, weight.rounded, R, D, EPS);
  const xBuf = f32Buffer(gpu, x);
  const [y, rstd, dx] = [R * D, R, R * D].map((n) => f32Buffer(gpu, new Float32Array(n)));
  const [gotY, gotRstd, gotDx] = await runAndRead(gpu, "rmsnorm forward and backward", (rec) => {
    recordRmsnorm(rec, { x: xBuf, weight: weight.tensor, y, rstd, rows: R, eps: EPS });
    recordRmsnormBackward(rec, {
      x: xBuf,
      weight: weight.tensor,
      rstd,
      dy: f32Buffer(gpu, dy),
      dx,
      rows: R,
      accumulate: false,
    });
  }, [[y, R * D], [rstd, R], [dx, R * D]]);
  const wantDx = rmsnormBackward(dy, x, weight.rounded, want.rstd, R, D);
  const close = { atol: 1e-5, rtol: 1e-4 };
  return [
    { label: `rmsnorm ${R}x${D}: y`, actual: gotY, expected: Array.from(want.y), ...close },
    {
      label: `rmsnorm ${R}x${D}: rstd`,
      actual: gotRstd,
      expected: Array.from(want.rstd),
      ...close,
    },
    {
      label: `rmsnorm backward ${R}x${D}: dx`,
      actual: gotDx,
      expected: Array.from(wantDx),
      ...close,
    },
  ];
}

/** Rows of logits over a vocabulary wider than a workgroup, two shifted far from 0. */
const [CE_ROWS, V] = [4, 1000];
const CE_TARGETS = [0, IGNORE_INDEX, 999, 417]; // (R) the first and last ids, one ignored

async function crossEntropyCases(gpu: Gpu, rng: Rng): Promise<ReductionCase[]> {
  const logits = randomF32(rng, CE_ROWS * V, 4); // (R, V)
  for (let j = 0; j < V; j++) {
    logits[2 * V + j] += 60;
    logits[3 * V + j] -= 90;
  }
  const stats = f32Buffer(gpu, new Float32Array(CE_ROWS * 4)); // (R, 4)
  const lossSum = f32Buffer(gpu, new Float32Array(1)); // (1)
  const targets = tensorOf(gpu, [CE_ROWS], new Float32Array(new Int32Array(CE_TARGETS).buffer))
    .tensor.buffer; // (R) i32, the bits carried through an f32 tensor
  const rows = { stats, targets, rows: CE_ROWS };
  const [gotStats, gotTotal] = await runAndRead(gpu, "cross-entropy", (rec) => {
    recordCrossEntropyReset(rec, { stats, rows: CE_ROWS });
    recordCrossEntropyStats(rec, {
      ...rows,
      logits: f32Buffer(gpu, logits),
      ldLogits: V,
      vocabOffset: 0,
      vocabCount: V,
    });
    recordCrossEntropyFinish(rec, { ...rows, lossSum, slot: 0, scale: 1, reset: true });
  }, [[stats, CE_ROWS * 4], [lossSum, 1]]);
  // The reference shifts labels: row r predicts labels[r + 1], so each row gets its own pair.
  const wantLoss = CE_TARGETS.map((target, r) => {
    const pair = new Float32Array(2 * V); // (2, V): row r, then a row that predicts nothing
    pair.set(logits.subarray(r * V, (r + 1) * V));
    return crossEntropyForward(pair, [IGNORE_INDEX, target], 2, V).lossSum;
  });
  const close = { atol: 1e-5, rtol: 1e-5 };
  return [
    {
      label: `cross-entropy ${CE_ROWS}x${V}: loss per row`,
      actual: CE_TARGETS.map((_, r) => gotStats[r * 4 + 3]),
      expected: wantLoss,
      ...close,
    },
    {
      label: `cross-entropy ${CE_ROWS}x${V}: summed loss`,
      actual: gotTotal,
      expected: [wantLoss.reduce((a, b) => a + b)],
      ...close,
    },
  ];
}

async function squaredNormCase(gpu: Gpu, rng: Rng): Promise<ReductionCase> {
  const x = randomF32(rng, 5000); // (N)
  const sumSq = f32Buffer(gpu, new Float32Array(1)); // (1)
  const [got] = await runAndRead(gpu, "squared norm", (rec) => {
    recordSquaredNormAccumulate(rec, { x: f32Buffer(gpu, x), n: x.length, sumSq });
  }, [[sumSq, 1]]);
  return {
    label: "squared norm of 5000",
    actual: got,
    expected: [squaredNorm(x)],
    atol: 0,
    rtol: 1e-5,
  };
}

/** A decode product: one row, K wider than the 64 invocations that split it. */
const [N, K] = [12, 1000];

async function gemvSplitCase(gpu: Gpu, rng: Rng): Promise<ReductionCase> {
  const a = randomF32(rng, K); // (1, K)
  const b = tensorOf(gpu, [N, K], randomF32(rng, N * K), "bf16"); // (N, K)
  const c = f32Buffer(gpu, new Float32Array(N)); // (1, N)
  const [got] = await runAndRead(gpu, "gemv_split", (rec) => {
    recordMatmul(rec, {
      a: f32Buffer(gpu, a),
      b: b.tensor.buffer,
      c,
      M: 1,
      N,
      K,
      bLayout: "nk",
      bDtype: "bf16",
      variant: "gemv_split",
    });
  }, [[c, N]]);
  return {
    label: `gemv_split 1x${K}→${N}`,
    actual: got,
    expected: Array.from(matmulNT(a, b.rounded, 1, K, N)),
    atol: 1e-4,
    rtol: 1e-4,
  };
}

/**
 * Runs every case on `gpu`, with its reductions as `gpu.kernels.matmul.subgroupReductions`
 * says, and returns their outputs for the caller to compare.
 */
export async function runReductionCases(gpu: Gpu): Promise<ReductionCase[]> {
  const rng = new Rng(140);
  return [
    ...await rmsnormCases(gpu, rng),
    ...await crossEntropyCases(gpu, rng),
    await squaredNormCase(gpu, rng),
    await gemvSplitCase(gpu, rng),
  ];
}
