// Tests of kernels/cross_entropy_{reset,stats,finish}.wgsl through lib/ops/cross_entropy.ts and
// of the cross-entropy gradient, both as the epilogue of the matmul kernels (recordMatmul's
// crossEntropyGrad, which recomputes the logits) and in place over kept logits
// (kernels/cross_entropy_grad.wgsl): the vocabulary in several chunks equals the unchunked
// reference loss and gradient.
// Dimensions: R rows, V vocab, LD the row stride of a chunk's logits.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import {
  recordCrossEntropyFinish,
  recordCrossEntropyGrad,
  recordCrossEntropyReset,
  recordCrossEntropyStats,
} from "../../lib/ops/cross_entropy.ts";
import { recordMatmul } from "../../lib/ops/matmul.ts";
import type { MatmulVariantName } from "../../lib/gpu/kernel_choices.ts";
import { MATMUL_VARIANTS } from "../../lib/ops/matmul_variants.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  IGNORE_INDEX,
} from "../../lib/reference/cross_entropy.ts";
import { Rng } from "../../lib/util/rng.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const [R, V] = [7, 600]; // V > 256: threads fold several columns each
// (R) labels each row predicts: the first and last vocab ids, ids in every chunk, two ignored.
const targets = [0, IGNORE_INDEX, 599, 280, 279, IGNORE_INDEX, 450];
const scale = 1 / 5; // 1 / (counted rows)

/** Logits (R, V) of several scales, two rows shifted far from 0 to test the running max. */
function makeLogits(): Float32Array {
  const logits = randomF32(new Rng(80), R * V, 4); // (R, V)
  for (let j = 0; j < V; j++) {
    logits[2 * V + j] += 60;
    logits[6 * V + j] -= 90;
  }
  return logits;
}

const TOTALS_BEFORE = [5, 7, 11]; // running loss totals before a run

/** The (V, V) identity: row i of it selects column i of a product's A. */
const IDENTITY = new Float32Array(V * V).map((_, i) => i % (V + 1) === 0 ? 1 : 0);

/**
 * Runs reset, stats and finish over column chunks `[start, count)` with row stride `ld`, then
 * each chunk's gradient: with a matmul `variant`, as an LM-head product that recomputes the
 * logits makes it (logits·Iᵀ over the chunk's rows of the identity, exactly the chunk's
 * logits, with the cross-entropy epilogue, into the chunk's buffer); with "kept", in place
 * over the chunk's logits (`recordCrossEntropyGrad`).
 */
async function runChunked(
  gpu: Gpu,
  logits: Float32Array,
  chunks: [number, number][],
  ld: number,
  variant: MatmulVariantName | "kept",
): Promise<{ stats: Float32Array; grad: Float32Array; totals: Float32Array }> {
  const [logitsBuf, identity] = [upload(gpu, logits), upload(gpu, IDENTITY)]; // (R, V), (V, V)
  const stats = upload(gpu, new Float32Array(R * 4).fill(123)); // (R, 4), reset must clear it
  const lossSum = upload(gpu, new Float32Array(TOTALS_BEFORE)); // (3) running totals
  const targetBuf = upload(gpu, new Uint8Array(new Int32Array(targets).buffer)); // (R) i32
  const pieces = chunks.map(([start, count]) => {
    const data = new Float32Array(R * ld).fill(Number.NaN); // (R, LD), padding never read
    for (let r = 0; r < R; r++) {
      data.set(logits.subarray(r * V + start, r * V + start + count), r * ld);
    }
    return { start, count, buffer: upload(gpu, data) };
  });
  const chunk = (p: (typeof pieces)[number]) => ({
    logits: p.buffer,
    ldLogits: ld,
    stats,
    targets: targetBuf,
    rows: R,
    vocabOffset: p.start,
    vocabCount: p.count,
  });
  await runRecorded(gpu, "cross-entropy", (rec) => {
    recordCrossEntropyReset(rec, { stats, rows: R });
    for (const p of pieces) recordCrossEntropyStats(rec, chunk(p));
    const rows = { stats, targets: targetBuf, rows: R, lossSum };
    recordCrossEntropyFinish(rec, { ...rows, slot: 1, scale, reset: false }); // adds
    recordCrossEntropyFinish(rec, { ...rows, slot: 2, scale: 1, reset: true }); // starts over
    for (const p of pieces) {
      if (variant === "kept") {
        recordCrossEntropyGrad(rec, { ...chunk(p), scale });
        continue;
      }
      recordMatmul(rec, {
        a: logitsBuf,
        b: identity,
        c: p.buffer,
        M: R,
        N: p.count,
        K: V,
        bLayout: "nk",
        bDtype: "f32",
        bOffset: p.start * V,
        ldc: ld,
        variant,
        crossEntropyGrad: { stats, targets: targetBuf, scale, vocabOffset: p.start },
      });
    }
  });
  const grad = new Float32Array(R * V); // (R, V)
  for (const p of pieces) {
    const data = await readF32(gpu, p.buffer, R * ld);
    for (let r = 0; r < R; r++) grad.set(data.subarray(r * ld, r * ld + p.count), r * V + p.start);
  }
  const totals = await readF32(gpu, lossSum, 3);
  return { stats: await readF32(gpu, stats, R * 4), grad, totals };
}

gpuTest(
  "chunked cross-entropy equals the unchunked reference loss and gradient (recomputed or kept logits)",
  async (gpu) => {
    const logits = makeLogits();
    // The reference shifts labels itself: row t predicts labels[t + 1]; one extra row predicts nothing.
    const labels = [IGNORE_INDEX, ...targets];
    const padded = new Float32Array((R + 1) * V); // (R + 1, V)
    padded.set(logits);
    const expectedGrad = crossEntropyBackward(padded, labels, R + 1, V, scale).subarray(0, R * V);
    const expectedLoss = targets.map((_, r) => {
      const row = new Float32Array(2 * V); // (2, V): row r, then a row that predicts nothing
      row.set(logits.subarray(r * V, (r + 1) * V));
      return crossEntropyForward(row, [IGNORE_INDEX, targets[r]], 2, V).lossSum;
    });
    const { lossSum, count } = crossEntropyForward(padded, labels, R + 1, V);
    assert.equal(count, 5);
    const layouts: [string, [number, number][], number][] = [
      ["one chunk", [[0, V]], V],
      ["three chunks, the last one short", [[0, 280], [280, 280], [560, 40]], 280],
      ["four chunks in a wider buffer", [[0, 160], [160, 160], [320, 160], [480, 120]], 170],
    ];
    const variants = [...Object.keys(MATMUL_VARIANTS) as MatmulVariantName[], "kept" as const];
    for (const [layout, chunks, ld] of layouts) {
      for (const variant of variants) {
        const name = `${layout}, ${variant}`;
        const { stats, grad, totals } = await runChunked(gpu, logits, chunks, ld, variant);
        const loss = targets.map((_, r) => stats[r * 4 + 3]);
        assertClose(loss, expectedLoss, { atol: 1e-5, rtol: 1e-5, label: `${name}: loss per row` });
        assertClose([loss.reduce((a, b) => a + b)], [lossSum], {
          rtol: 1e-5,
          label: `${name}: sum`,
        });
        assertClose(totals, [TOTALS_BEFORE[0], TOTALS_BEFORE[1] + scale * lossSum, lossSum], {
          rtol: 1e-5,
          label: `${name}: running totals (untouched, added to, started over)`,
        });
        assertClose(grad, expectedGrad, { atol: 1e-7, rtol: 1e-4, label: `${name}: gradient` });
      }
    }
  },
);
