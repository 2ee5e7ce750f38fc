// Tests of kernels/rope.wgsl through recordRope.
// Dimensions: B sequences, T tokens, NH heads per row, HD head dim, P table positions.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordRope } from "../../lib/ops/rope.ts";
import { ropeBackward, ropeForward } from "../../lib/reference/rope.ts";
import { Rng } from "../../lib/rng.ts";
import { ropeTables } from "../../lib/rope.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const [B, T, NH, HD, offset] = [2, 5, 3, 18, 4];
const row = NH * HD;
const { cos, sin } = ropeTables({ headDim: HD, ropeTheta: 10000, ropeScaling: null }, 16); // (P, HD/2)

/** Applies the reference rotation to each of the B sequences stored after `rowOffset` rows. */
function reference(x: Float32Array, rowOffset: number, inverse: boolean): Float32Array {
  const out = x.slice();
  for (let b = 0; b < B; b++) {
    const seq = out.subarray((rowOffset + b * T) * row, (rowOffset + (b + 1) * T) * row); // (T, NH, HD)
    (inverse ? ropeBackward : ropeForward)(seq, cos, sin, T, NH, HD, offset);
  }
  return out;
}

for (const inverse of [false, true]) {
  gpuTest(
    `rope ${inverse ? "inverse" : "forward"} matches the reference at a position and row offset`,
    async (gpu) => {
      const rng = new Rng(inverse ? 31 : 30);
      const rowOffset = 1;
      const x0 = randomF32(rng, (rowOffset + B * T + 1) * row); // (1 + B·T + 1, NH, HD)
      const x = upload(gpu, x0);
      await runRecorded(gpu, "rope", (rec) =>
        recordRope(rec, {
          x,
          cos: upload(gpu, cos),
          sin: upload(gpu, sin),
          rows: B * T,
          T,
          heads: NH,
          headDim: HD,
          positionOffset: offset,
          rowOffset,
          inverse,
        }));
      assertClose(await readF32(gpu, x, x0.length), reference(x0, rowOffset, inverse), {
        atol: 1e-6,
        rtol: 1e-5,
        label: inverse ? "inverse rope" : "rope",
      });
    },
  );
}

gpuTest("rope followed by its inverse gives back the input", async (gpu) => {
  const x0 = randomF32(new Rng(32), B * T * row); // (B·T, NH, HD)
  const x = upload(gpu, x0);
  const args = {
    x,
    cos: upload(gpu, cos),
    sin: upload(gpu, sin),
    rows: B * T,
    T,
    heads: NH,
    headDim: HD,
    positionOffset: offset,
  };
  await runRecorded(gpu, "rope round trip", (rec) => {
    recordRope(rec, args);
    recordRope(rec, { ...args, inverse: true });
  });
  assertClose(await readF32(gpu, x, x0.length), x0, { atol: 1e-6, rtol: 1e-5 });
});
