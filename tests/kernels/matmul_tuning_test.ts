// Tests of tuneMatmul: it measures every candidate once per device, records the fastest in the
// device's kernel choices, and frees what it allocated. No assertion depends on how fast
// anything ran.
import assert from "node:assert/strict";
import { gpuTest, testGpu } from "../_gpu.ts";
import { tuneMatmul } from "../../lib/ops/matmul_tuning.ts";
import { MATMUL_CANDIDATES, setMatmulChoice } from "../../lib/ops/matmul_variants.ts";

gpuTest("tuneMatmul records the fastest candidate of each class once per device", async (gpu) => {
  const other = await testGpu({}); // another device, on the same adapter
  const before = gpu.memory.report().current;
  // Two calls at once share one measurement.
  const [tuning, same] = await Promise.all([tuneMatmul(gpu), tuneMatmul(gpu)]);
  assert.equal(same, tuning);
  assert.equal(tuning.adapterName, gpu.adapterName);
  assert.equal(tuning.measured, true);
  assert.equal(gpu.memory.report().current, before, "tuning frees its buffers");
  for (const kind of ["small", "large"] as const) {
    const timings = tuning.timings[kind];
    assert.deepEqual(Object.keys(timings).sort(), [...MATMUL_CANDIDATES[kind]].sort());
    for (const seconds of Object.values(timings)) {
      assert.ok(Number.isFinite(seconds) && seconds >= 0);
    }
    const fastest = Math.min(...Object.values(timings));
    assert.equal(timings[tuning.choice[kind]], fastest, `${kind}: the fastest is chosen`);
  }
  const loads = tuning.loads!;
  assert.ok(Number.isFinite(loads.fused) && Number.isFinite(loads.separate));
  assert.equal(tuning.choice.fuseLoads, loads.fused <= loads.separate, "the faster loads chosen");
  assert.ok(gpu.kernels.tuned);
  assert.deepEqual(gpu.kernels.matmul, tuning.choice);

  // The other device keeps its own choices: not tuned, the default.
  assert.equal(other.kernels.tuned, false);
  assert.deepEqual(other.kernels.matmul, { small: "gemv_split", large: "tiled", fuseLoads: true });

  // A tuned device (here: a choice set by hand) returns its choice without measuring.
  setMatmulChoice(gpu, { small: "gemv_split", large: "tiled", fuseLoads: false });
  const cached = await tuneMatmul(gpu);
  assert.equal(cached.measured, false);
  assert.deepEqual(cached.choice, { small: "gemv_split", large: "tiled", fuseLoads: false });
  assert.deepEqual(cached.timings, { small: {}, large: {} });
  assert.equal(cached.loads, undefined);

  const again = await tuneMatmul(gpu, { force: true, minSeconds: 0 });
  assert.equal(again.measured, true);
  assert.deepEqual(gpu.kernels.matmul, again.choice);
});

gpuTest("a device not measured yet uses the default choice", async () => {
  const fresh = await testGpu({});
  assert.equal(fresh.kernels.tuned, false);
  assert.deepEqual(fresh.kernels.matmul, {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: true,
  });
});
