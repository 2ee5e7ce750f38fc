// Tests of kernels/dropout.wgsl through recordDropout: the GPU mask is bit-identical to the
// reference's. Dimensions: N elements.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import type { CommandRecorder } from "../../lib/gpu/recorder.ts";
import { recordDropout } from "../../lib/ops/dropout.ts";
import { dropoutForward } from "../../lib/reference/dropout.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const n = 1000; // several workgroups of 256, the last one partial

gpuTest("dropout keeps exactly the reference's elements, scaled alike", async (gpu) => {
  const x = randomF32(new Rng(90), n + 3); // (N + 3)
  for (const [p, seed] of [[0.3, 1], [0.3, 0xfffffffe], [0.8, 12345], [0, 7]]) {
    const y = emptyF32(gpu, n + 3);
    await runRecorded(
      gpu,
      "dropout",
      (rec) => recordDropout(rec, { x: upload(gpu, x), y, n, p, seed }),
    );
    const got = await readF32(gpu, y, n + 3);
    const expected = [...dropoutForward(x.subarray(0, n), p, seed), 0, 0, 0];
    const label = `dropout p ${p} seed ${seed}`;
    const kept = (values: ArrayLike<number>) => Array.from(values, (v) => v === 0 ? 0 : 1);
    assert.deepEqual(kept(got), kept(expected), label);
    assertClose(got, expected, { atol: 0, rtol: 1e-7, label });
  }
});

gpuTest("dropout with accumulate adds the masked input to y", async (gpu) => {
  const rng = new Rng(91);
  const x = randomF32(rng, n), y0 = randomF32(rng, n); // (N)
  const y = upload(gpu, y0);
  const [p, seed] = [0.25, 4242];
  await runRecorded(
    gpu,
    "dropout accumulate",
    (rec) => recordDropout(rec, { x: upload(gpu, x), y, n, p, seed, accumulate: true }),
  );
  const expected = dropoutForward(x, p, seed).map((v, i) => v + y0[i]);
  assertClose(await readF32(gpu, y, n), expected, { atol: 1e-6, rtol: 1e-6 });
});

Deno.test("recordDropout rejects a probability of 1 and a seed outside 32 bits", () => {
  const rec = { dispatch: () => {} } as unknown as CommandRecorder; // never reached
  const buf = {} as GPUBuffer;
  assert.throws(
    () => recordDropout(rec, { x: buf, y: buf, n: 4, p: 1, seed: 0 }),
    /Dropout probability 1 must be in \[0, 1\)/,
  );
  assert.throws(
    () => recordDropout(rec, { x: buf, y: buf, n: 4, p: 0.1, seed: -1 }),
    /Dropout seed -1 must be an integer in \[0, 2\^32\)/,
  );
});
