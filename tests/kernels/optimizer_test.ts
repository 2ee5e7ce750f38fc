// Tests of kernels/adamw.wgsl and kernels/sgd.wgsl through recordAdamW and recordSgd, against
// lib/reference/optimizer.ts and against AdamW values worked out independently.
// Dimensions: N elements of one parameter tensor.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { recordAdamW, recordSgd } from "../../lib/ops/optimizer.ts";
import type { AdamWHyper } from "../../lib/ops/optimizer.ts";
import { adamwStep, sgdStep } from "../../lib/reference/optimizer.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const n = 1000; // several workgroups of 256, the last one partial
const gradScale = 0.5;

/**
 * Runs one recordAdamW per gradient, steps 1, 2, …, in one submit from the state
 * (param, m, v), each (N), and reads back the final state.
 */
async function gpuAdamW(
  gpu: Gpu,
  hyper: Omit<AdamWHyper, "step">,
  state: { param: Float32Array; m: Float32Array; v: Float32Array },
  grads: Float32Array[],
): Promise<{ param: Float32Array; m: Float32Array; v: Float32Array }> {
  const size = state.param.length;
  const [param, m, v] = [state.param, state.m, state.v].map((a) => upload(gpu, a));
  const scaleBuf = upload(gpu, new Float32Array([gradScale]));
  await runRecorded(gpu, "adamw", (rec) =>
    grads.forEach((g, i) =>
      recordAdamW(rec, {
        ...hyper,
        param,
        grad: upload(gpu, g),
        m,
        v,
        n: size,
        step: i + 1,
        gradScale: scaleBuf,
      })
    ));
  return {
    param: await readF32(gpu, param, size),
    m: await readF32(gpu, m, size),
    v: await readF32(gpu, v, size),
  };
}

gpuTest("three AdamW steps from a random state match the reference", async (gpu) => {
  const rng = new Rng(100);
  const param = randomF32(rng, n), m = randomF32(rng, n, 0.1); // (N)
  const v = randomF32(rng, n, 0.1).map(Math.abs); // (N)
  const grads = [1, 2, 3].map(() => randomF32(rng, n)); // 3 × (N)
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
  const got = await gpuAdamW(gpu, hyper, { param, m, v }, grads);
  grads.forEach((g, i) => adamwStep(param, g, m, v, { ...hyper, step: i + 1 }, gradScale));
  const close = { atol: 1e-6, rtol: 1e-5 };
  assertClose(got.param, param, { ...close, label: "param" });
  assertClose(got.m, m, { ...close, label: "m" });
  assertClose(got.v, v, { ...close, label: "v" });
});

gpuTest("three AdamW steps from zero moments give torch.optim.AdamW's values", async (gpu) => {
  // Expected values from a one-off python3 script, in f64, that writes out torch.optim.AdamW's
  // update (torch is not installed here) for g = 0.5·grad and steps t = 1, 2, 3:
  //   p −= lr·wd·p; m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²;
  //   m̂ = m/(1 − β1ᵗ); v̂ = v/(1 − β2ᵗ); p −= lr·m̂/(√v̂ + eps).
  // Element 3's gradient is constant, so m̂ = g and v̂ = g² and each step is p ← 0.995·p − 0.05;
  // element 2's first gradient is 0, so its first step only decays it.
  const hyper = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  const grads = [[1, -2, 0, 4], [0.5, 1, -1, 4], [-1, 0.25, 2, 4]].map((g) => new Float32Array(g));
  const zeros = new Float32Array(4);
  const got = await gpuAdamW(gpu, hyper, {
    param: new Float32Array([1, -0.5, 2, 0.25]),
    m: zeros,
    v: zeros,
  }, grads);
  const close = { atol: 1e-6, rtol: 1e-5 };
  assertClose(got.param, [0.8835954664, -0.4230662802, 1.991429399, 0.09701746950], {
    ...close,
    label: "param",
  });
  assertClose(got.m, [0.013, -0.0235, 0.055, 0.542], { ...close, label: "m" });
  assertClose(got.v, [0.005569, 0.01243225, 0.012475, 0.118804], { ...close, label: "v" });
});

gpuTest("an SGD step matches the reference", async (gpu) => {
  const rng = new Rng(101);
  const param = randomF32(rng, n), grad = randomF32(rng, n); // (N)
  const hyper = { lr: 0.05, weightDecay: 0.01 };
  const gpuParam = upload(gpu, param);
  await runRecorded(gpu, "sgd", (rec) =>
    recordSgd(rec, {
      ...hyper,
      param: gpuParam,
      grad: upload(gpu, grad),
      n,
      gradScale: upload(gpu, new Float32Array([gradScale])),
    }));
  sgdStep(param, grad, hyper, gradScale);
  assertClose(await readF32(gpu, gpuParam, n), param, { atol: 1e-6, rtol: 1e-6 });
});
