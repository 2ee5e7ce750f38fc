// Tests of DispatchProfiler: while attached, every dispatch of a submit comes back with its
// kernel and a GPU time, in order, and the work computes what it computes unprofiled; once
// detached, submits are not profiled. No assertion depends on how fast anything ran.
import assert from "node:assert/strict";
import { gpuTest, readF32, upload } from "./_gpu.ts";
import { withGpuErrors } from "../lib/gpu/device.ts";
import { DispatchProfiler } from "../lib/gpu/dispatch_profiler.ts";
import { CommandRecorder } from "../lib/gpu/recorder.ts";
import { recordMatmul } from "../lib/ops/matmul.ts";
import { recordSwiglu } from "../lib/ops/swiglu.ts";

gpuTest(
  "DispatchProfiler times each dispatch of a submit, in order, without changing results",
  async (gpu) => {
    if (!gpu.hasTimestamps) {
      assert.throws(() => DispatchProfiler.attach(gpu), /offers no timestamp-query/);
      return;
    }
    const [M, N, K] = [3, 8, 4];
    const a = upload(gpu, new Float32Array(M * K).map((_, i) => i / 7 - 1)); // (M, K)
    const b = upload(gpu, new Float32Array(N * K).map((_, i) => (i % 5) / 3)); // (N, K)
    const c = upload(gpu, new Float32Array(M * N)); // (M, N)
    const h = upload(gpu, new Float32Array(M * N)); // (M, N) silu(c)·c
    const y = upload(gpu, new Float32Array(M * N)); // (M, N) silu(h)·c
    const rec = new CommandRecorder(gpu);
    const run = () =>
      withGpuErrors(gpu.device, "profiled work", async () => {
        recordMatmul(rec, { a, b, c, M, N, K, bLayout: "nk", bDtype: "f32" });
        recordSwiglu(rec, c, c, h, M * N);
        rec.copy(h, 0, c, 0, 4); // a copy between dispatches ends the pass, as in a real step
        recordSwiglu(rec, h, c, y, M * N);
        rec.submit();
        await gpu.device.queue.onSubmittedWorkDone();
        return await readF32(gpu, y, M * N);
      });
    const plain = await run();

    const profiler = DispatchProfiler.attach(gpu);
    assert.throws(() => DispatchProfiler.attach(gpu), /attached to this device already/);
    const profiled = await run();
    const dispatches = await profiler.collect();
    profiler.detach();
    assert.deepEqual(profiled, plain, "profiling does not change what is computed");
    const kernels = dispatches.map((d) => d.dispatch.kernel);
    assert.equal(kernels.length, 3);
    assert.match(kernels[0], /^matmul/);
    assert.deepEqual(kernels.slice(1), ["swiglu", "swiglu"]);
    for (const d of dispatches) assert.ok(Number.isFinite(d.seconds) && d.seconds >= 0);

    await run(); // detached: not profiled
    assert.deepEqual(await profiler.collect(), []);

    const during = await DispatchProfiler.during(gpu, run);
    assert.deepEqual(during.map((d) => d.dispatch.kernel), kernels);
    assert.equal(DispatchProfiler.of(gpu), undefined, "during detaches after its body");
    await assert.rejects(
      DispatchProfiler.during(gpu, () => Promise.reject(new Error("body failed"))),
      /body failed/,
    );
    assert.equal(DispatchProfiler.of(gpu), undefined, "during detaches when its body throws");
    rec.dispose();
  },
);

gpuTest(
  "DispatchProfiler times a submit of more dispatches than one query set holds",
  async (gpu) => {
    if (!gpu.hasTimestamps) return; // the test above checks the refusal
    const n = 4096; // elements of each SwiGLU
    const dispatchCount = 2500; // 5,000 timestamps: two query sets of at most 4,096
    const g = upload(gpu, new Float32Array(n).map((_, i) => (i % 9) / 4 - 1)); // (n)
    const u = upload(gpu, new Float32Array(n).fill(0.5)); // (n)
    const h = upload(gpu, new Float32Array(n)); // (n)
    const rec = new CommandRecorder(gpu);
    const started = performance.now();
    const dispatches = await DispatchProfiler.during(
      gpu,
      () =>
        withGpuErrors(gpu.device, "a long profiled submit", async () => {
          for (let i = 0; i < dispatchCount; i++) recordSwiglu(rec, g, u, h, n);
          rec.submit();
          await gpu.device.queue.onSubmittedWorkDone();
        }),
    );
    const wall = (performance.now() - started) / 1000;
    assert.equal(dispatches.length, dispatchCount);
    assert.ok(dispatches.every((d) => d.dispatch.kernel === "swiglu" && d.seconds >= 0));
    // Unresolved timestamps read as zeros: the second set's dispatches must have times too.
    const secondSet = dispatches.slice(2048).reduce((sum, d) => sum + d.seconds, 0);
    const all = dispatches.reduce((sum, d) => sum + d.seconds, 0);
    assert.ok(secondSet > 0, "the second query set was resolved");
    assert.ok(all <= wall, `GPU time ${all} s within the submit's ${wall} s`);
    rec.dispose();
  },
);
