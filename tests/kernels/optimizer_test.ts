// Tests of kernels/adamw.wgsl and kernels/sgd.wgsl through recordAdamW and recordSgd, against
// lib/reference/optimizer.ts. Dimensions: N elements of one parameter tensor.
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import { recordAdamW, recordSgd } from "../../lib/ops/optimizer.ts";
import { adamwStep, sgdStep } from "../../lib/reference/optimizer.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const n = 1000; // several workgroups of 256, the last one partial
const gradScale = 0.5;

gpuTest("three AdamW steps from a random state match the reference", async (gpu) => {
  const rng = new Rng(100);
  const param = randomF32(rng, n), m = randomF32(rng, n, 0.1); // (N)
  const v = randomF32(rng, n, 0.1).map(Math.abs); // (N)
  const grads = [1, 2, 3].map(() => randomF32(rng, n)); // 3 × (N)
  const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
  const gpuParam = upload(gpu, param), gpuM = upload(gpu, m), gpuV = upload(gpu, v);
  const scaleBuf = upload(gpu, new Float32Array([gradScale]));
  await runRecorded(gpu, "adamw", (rec) =>
    grads.forEach((g, i) =>
      recordAdamW(rec, {
        ...hyper,
        param: gpuParam,
        grad: upload(gpu, g),
        m: gpuM,
        v: gpuV,
        n,
        step: i + 1,
        gradScale: scaleBuf,
      })
    ));
  grads.forEach((g, i) => adamwStep(param, g, m, v, { ...hyper, step: i + 1 }, gradScale));
  const close = { atol: 1e-6, rtol: 1e-5 };
  assertClose(await readF32(gpu, gpuParam, n), param, { ...close, label: "param" });
  assertClose(await readF32(gpu, gpuM, n), m, { ...close, label: "m" });
  assertClose(await readF32(gpu, gpuV, n), v, { ...close, label: "v" });
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
