/**
 * The GPU logprobs (kernels/logprobs.wgsl) against the plain log-softmax of
 * lib/reference/logprobs.ts: the target's logprob and the top-k ids and logprobs, with ties
 * broken by the lowest id, for several rows of one logits buffer and a vocabulary larger than a
 * workgroup.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import {
  decodeLogprobRecord,
  LOGPROB_RECORD_WORDS,
  MAX_TOP_LOGPROBS,
  recordLogprobs,
} from "../../lib/ops/logprobs.ts";
import { tokenLogprob } from "../../lib/reference/logprobs.ts";
import { Rng } from "../../lib/util/rng.ts";
import { gpuTest, upload } from "../_gpu.ts";
import { randomF32 } from "./_kernels.ts";

/** Runs the kernel on each row of `logits` (rows, V) with target ids `targets`. */
async function gpuLogprobs(
  logits: Float32Array,
  V: number,
  targets: number[],
  topK: number,
  gpu: Parameters<typeof upload>[0],
) {
  const rows = targets.length;
  const words = new Uint32Array(rows * (1 + LOGPROB_RECORD_WORDS)); // targets, then records
  words.set(targets);
  const tokens = upload(gpu, words), logitBuf = upload(gpu, logits);
  const rec = new CommandRecorder(gpu);
  for (let r = 0; r < rows; r++) {
    recordLogprobs(rec, {
      logits: logitBuf,
      logitsOffset: r * V,
      tokens,
      targetIndex: r,
      recordOffset: rows + r * LOGPROB_RECORD_WORDS,
      topK,
      vocabSize: V,
    });
  }
  const read = rec.read(tokens, 0, words.byteLength);
  rec.submit();
  const out = new Uint32Array(await read);
  return targets.map((_, r) => decodeLogprobRecord(out, rows + r * LOGPROB_RECORD_WORDS, topK));
}

function assertClose(got: number, want: number, what: string) {
  assert.ok(Math.abs(got - want) <= 1e-4 + 1e-5 * Math.abs(want), `${what}: ${got} vs ${want}`);
}

gpuTest("GPU logprobs equal the reference log-softmax and its top-k", async (gpu) => {
  const rng = new Rng(21);
  for (const [V, topK, scale] of [[1000, 5, 3], [3001, MAX_TOP_LOGPROBS, 8], [7, 7, 1]]) {
    const rows = 3;
    const logits = randomF32(rng, rows * V, scale); // (rows, V)
    const targets = [0, V - 1, Math.floor(V / 2)];
    const got = await gpuLogprobs(logits, V, targets, topK, gpu);
    got.forEach((g, r) => {
      const want = tokenLogprob(logits.subarray(r * V, (r + 1) * V), targets[r], topK);
      assertClose(g.logprob, want.logprob, `V ${V} row ${r} target`);
      assert.deepEqual(g.top.map((t) => t.id), want.top.map((t) => t.id), `V ${V} row ${r} ids`);
      g.top.forEach((t, k) => assertClose(t.logprob, want.top[k].logprob, `row ${r} top ${k}`));
    });
  }
});

gpuTest(
  "GPU top logprobs keep ties in id order, and top-k 0 writes the target only",
  async (gpu) => {
    const V = 600;
    const logits = new Float32Array(V).fill(-2); // (1, V)
    for (const id of [590, 3, 300]) logits[id] = 4; // three tied leaders
    logits[42] = 5;
    const [got] = await gpuLogprobs(logits, V, [300], 4, gpu);
    const want = tokenLogprob(logits, 300, 4);
    assert.deepEqual(got.top.map((t) => t.id), [42, 3, 300, 590]);
    assert.deepEqual(want.top.map((t) => t.id), [42, 3, 300, 590]);
    assertClose(got.logprob, want.logprob, "target");
    const [alone] = await gpuLogprobs(logits, V, [42], 0, gpu);
    assert.deepEqual(alone.top, []);
    assertClose(alone.logprob, want.top[0].logprob, "target 42");
  },
);

gpuTest("a target outside the vocabulary (no token sampled) gives a NaN logprob", async (gpu) => {
  const [got] = await gpuLogprobs(new Float32Array([1, 2, 3]), 3, [0xffffffff], 1, gpu);
  assert.ok(Number.isNaN(got.logprob));
  assert.equal(got.top[0].id, 2);
});
