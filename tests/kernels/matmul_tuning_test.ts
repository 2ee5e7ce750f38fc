// Tests of tuneMatmul: it measures every candidate once per device, starting from the prior of
// the adapter's class, records its choice in the device's kernel choices and in the on-disk
// cache, which a new device on the same adapter reads instead of measuring. No assertion
// depends on how fast anything ran.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest, testGpu } from "../_gpu.ts";
import { KernelChoiceCache } from "../../lib/gpu/kernel_choice_cache.ts";
import { MATMUL_PRIORS, type MatmulChoice } from "../../lib/gpu/kernel_choices.ts";
import { describeTuning, tuneMatmul } from "../../lib/ops/matmul_tuning.ts";
import { MATMUL_CANDIDATES, setMatmulChoice } from "../../lib/ops/matmul_variants.ts";

/** Short trials: this checks the mechanism, not the choice. */
const QUICK = { minSeconds: 0.005, trials: 2, wins: 1 };

gpuTest("tuneMatmul measures once per adapter and caches the choice on disk", async (gpu) => {
  const dir = await Deno.makeTempDir();
  const cache = new KernelChoiceCache(join(dir, "kernel_choices.json"));
  const other = await testGpu({}); // another device, on the same adapter
  const before = gpu.memory.report().current;
  // Two calls at once share one measurement.
  const [tuning, same] = await Promise.all([
    tuneMatmul(gpu, { ...QUICK, cache }),
    tuneMatmul(gpu, { ...QUICK, cache }),
  ]);
  assert.equal(same, tuning);
  assert.equal(tuning.adapterName, gpu.adapterName);
  assert.equal(tuning.measured, true);
  assert.equal(tuning.origin, "measured");
  assert.deepEqual(tuning.prior, MATMUL_PRIORS[gpu.adapterClass]);
  assert.equal(gpu.memory.report().current, before, "tuning frees its buffers");
  for (const kind of ["small", "large"] as const) {
    const timings = tuning.timings[kind];
    assert.deepEqual(Object.keys(timings).sort(), [...MATMUL_CANDIDATES[kind]].sort());
    for (const seconds of Object.values(timings)) {
      assert.ok(Number.isFinite(seconds) && seconds >= 0);
    }
  }
  const loads = tuning.loads!;
  assert.ok(Number.isFinite(loads.fused) && Number.isFinite(loads.separate));
  assert.ok(gpu.kernels.tuned);
  assert.equal(gpu.kernels.origin, "measured");
  assert.deepEqual(gpu.kernels.matmul, tuning.choice);
  assert.deepEqual(await cache.get(gpu.adapterKey), tuning.choice, "the choice is cached");
  assert.match(describeTuning(tuning), /^Kernels on .+ \(measured\): decode /);
  assert.match(describeTuning(tuning), /, row reductions in workgroup memory$/);
  assert.equal(tuning.reductions, undefined, "no subgroups: nothing to measure");

  // The other device is not tuned yet; tuning it reads the cache instead of measuring.
  assert.equal(other.kernels.tuned, false);
  assert.equal(other.adapterKey, gpu.adapterKey);
  // An entry from before subgroup reductions is used as it is: lavapipe has no subgroups.
  await cache.set(gpu.adapterKey, {
    small: "gemv_split",
    large: "blocked",
    fuseLoads: true,
  } as MatmulChoice);
  const fromCache = await tuneMatmul(other, { ...QUICK, cache });
  assert.equal(fromCache.measured, false);
  assert.equal(fromCache.origin, "cache");
  assert.deepEqual(other.kernels.matmul, {
    small: "gemv_split",
    large: "blocked",
    fuseLoads: true,
    subgroupReductions: false,
  });

  // A tuned device (here: a choice set by hand) returns its choice without measuring; subgroup
  // reductions asked of a device without subgroups stay off.
  assert.equal(gpu.hasSubgroups, false, "lavapipe under Deno offers no subgroups");
  setMatmulChoice(gpu, {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: false,
    subgroupReductions: true,
  });
  const kept = await tuneMatmul(gpu, { ...QUICK, cache });
  assert.equal(kept.measured, false);
  assert.equal(kept.origin, "set");
  assert.deepEqual(kept.choice, {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: false,
    subgroupReductions: false,
  });
  assert.deepEqual(kept.timings, { small: {}, large: {} });
  assert.equal(kept.loads, undefined);
  assert.equal(kept.reductions, undefined);

  const again = await tuneMatmul(gpu, { ...QUICK, cache, force: true });
  assert.equal(again.measured, true);
  assert.deepEqual(gpu.kernels.matmul, again.choice);
  await Deno.remove(dir, { recursive: true });
});

gpuTest("a device not measured yet uses the default choice", async () => {
  const fresh = await testGpu({});
  assert.equal(fresh.kernels.tuned, false);
  assert.equal(fresh.kernels.origin, "default");
  assert.deepEqual(fresh.kernels.matmul, {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: false,
  });
});
