// Tests of kernels/rope.wgsl through recordRope: queries and keys rotated in one dispatch.
// Dimensions: B sequences, T tokens, QH query heads and KH key heads per row, HD head dim,
// P table positions.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRope } from "../../lib/ops/rope.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import { ropeBackward, ropeForward } from "../../lib/reference/rope.ts";
import { Rng } from "../../lib/rng.ts";
import { ropeTables } from "../../lib/rope.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const [B, T, QH, KH, HD, offset] = [2, 5, 3, 2, 18, 4];
const { cos, sin } = ropeTables({ headDim: HD, ropeTheta: 10000, ropeScaling: null }, 16); // (P, HD/2)

/**
 * Applies the reference rotation to each of the B sequences of `heads` heads stored after
 * `rowOffset` rows.
 */
function reference(
  x: Float32Array,
  heads: number,
  rowOffset: number,
  inverse: boolean,
): Float32Array {
  const out = x.slice(), row = heads * HD;
  for (let b = 0; b < B; b++) {
    const seq = out.subarray((rowOffset + b * T) * row, (rowOffset + (b + 1) * T) * row); // (T, heads, HD)
    (inverse ? ropeBackward : ropeForward)(seq, cos, sin, T, heads, HD, offset);
  }
  return out;
}

for (const inverse of [false, true]) {
  gpuTest(
    `rope ${inverse ? "inverse" : "forward"} matches the reference on q and k at their row offsets`,
    async (gpu) => {
      const rng = new Rng(inverse ? 31 : 30);
      const [qRowOffset, kRowOffset] = [1, 3];
      const q0 = randomF32(rng, (qRowOffset + B * T + 1) * QH * HD); // (1 + B·T + 1, QH, HD)
      const k0 = randomF32(rng, (kRowOffset + B * T + 2) * KH * HD); // (3 + B·T + 2, KH, HD)
      const [q, k] = [upload(gpu, q0), upload(gpu, k0)];
      await runRecorded(gpu, "rope", (rec) =>
        recordRope(rec, {
          q,
          k,
          cos: upload(gpu, cos),
          sin: upload(gpu, sin),
          rows: B * T,
          T,
          qHeads: QH,
          kHeads: KH,
          headDim: HD,
          positionOffset: offset,
          qRowOffset,
          kRowOffset,
          inverse,
        }));
      const label = inverse ? "inverse rope" : "rope";
      assertClose(await readF32(gpu, q, q0.length), reference(q0, QH, qRowOffset, inverse), {
        atol: 1e-6,
        rtol: 1e-5,
        label: `${label}: q`,
      });
      assertClose(await readF32(gpu, k, k0.length), reference(k0, KH, kRowOffset, inverse), {
        atol: 1e-6,
        rtol: 1e-5,
        label: `${label}: k, and the rows around it untouched`,
      });
    },
  );
}

gpuTest("rope followed by its inverse gives back q and k", async (gpu) => {
  const rng = new Rng(32);
  const q0 = randomF32(rng, B * T * QH * HD); // (B·T, QH, HD)
  const k0 = randomF32(rng, B * T * KH * HD); // (B·T, KH, HD)
  const [q, k] = [upload(gpu, q0), upload(gpu, k0)];
  const args = {
    q,
    k,
    cos: upload(gpu, cos),
    sin: upload(gpu, sin),
    rows: B * T,
    T,
    qHeads: QH,
    kHeads: KH,
    headDim: HD,
    positionOffset: offset,
  };
  await runRecorded(gpu, "rope round trip", (rec) => {
    recordRope(rec, args);
    recordRope(rec, { ...args, inverse: true });
  });
  assertClose(await readF32(gpu, q, q0.length), q0, { atol: 1e-6, rtol: 1e-5, label: "q" });
  assertClose(await readF32(gpu, k, k0.length), k0, { atol: 1e-6, rtol: 1e-5, label: "k" });
});

gpuTest("rope refuses one buffer as both queries and keys", async (gpu) => {
  const x = upload(gpu, new Float32Array(HD));
  const rec = new CommandRecorder(gpu);
  const tables = { cos: x, sin: x, rows: 1, T: 1, qHeads: 1, kHeads: 0, headDim: HD };
  assert.throws(
    () => recordRope(rec, { ...tables, q: x, k: x, positionOffset: 0 }),
    /Queries and keys must be different buffers/,
  );
  rec.dispose();
});
