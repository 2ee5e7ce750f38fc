/**
 * The GPU sampler (kernels/sample.wgsl) against the host sampler's distribution
 * (lib/generate/sampling.ts samplingDistribution, Hugging Face semantics): greedy with ties and the
 * repetition, presence and frequency penalties exactly, and for temperature / min-p / top-k /
 * top-p every draw inside the kept set with frequencies matching its probabilities.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import {
  type GpuSamplingParams,
  promptSeenCounts,
  recordSample,
  SEEN_IN_PROMPT,
} from "../../lib/ops/sample.ts";
import { Rng } from "../../lib/util/rng.ts";
import { type SamplingDistribution, samplingDistribution } from "../../lib/generate/sampling.ts";
import { gpuTest, upload } from "../_gpu.ts";
import type { Gpu } from "../../lib/gpu/device.ts";

/**
 * Draws `draws` tokens from the same logits with steps 0..draws-1, in one submit; `previousIds`
 * are prompt ids, then from `promptLength` on generated ones.
 */
async function drawMany(
  gpu: Gpu,
  logits: Float32Array,
  previousIds: number[],
  params: GpuSamplingParams,
  draws: number,
  promptLength = previousIds.length,
): Promise<Uint32Array> {
  const V = logits.length;
  const seenFlags = promptSeenCounts(previousIds.slice(0, promptLength), V); // (V)
  for (const id of previousIds.slice(promptLength)) seenFlags[id] += 1;
  const rec = new CommandRecorder(gpu);
  const logitBuf = upload(gpu, logits), tokens = upload(gpu, new Uint32Array(draws));
  const ids = upload(gpu, new Uint32Array(1));
  const seens = Array.from({ length: draws }, () => upload(gpu, seenFlags)); // each draw sees the same set
  for (let step = 0; step < draws; step++) {
    recordSample(rec, {
      ...params,
      logits: logitBuf,
      seen: seens[step],
      tokens,
      outIndex: step,
      ids,
      vocabSize: V,
      step,
    });
  }
  const out = rec.read(tokens, 0, draws * 4);
  rec.submit();
  return new Uint32Array(await out);
}

/** The ids a distribution can draw. */
function keptIds(dist: SamplingDistribution): Set<number> {
  return new Set(dist.ids ?? [...dist.weights.keys()].filter((i) => dist.weights[i] > 0));
}

/** Asserts that every draw is a kept id and each id's count is within 5 sd of its expectation. */
function assertDrawsFollow(tokens: Uint32Array, dist: SamplingDistribution): void {
  const kept = keptIds(dist), draws = tokens.length;
  const counts = new Map<number, number>();
  for (const id of tokens) {
    assert.ok(kept.has(id), `drew ${id}, outside the kept set`);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const id of kept) {
    const p = dist.weights[id] / dist.total;
    const expected = p * draws, sd = Math.sqrt(draws * p * (1 - p));
    const got = counts.get(id) ?? 0;
    assert.ok(
      Math.abs(got - expected) <= 5 * sd + 2,
      `id ${id}: ${got} draws, expected ${expected.toFixed(1)} ± ${sd.toFixed(1)}`,
    );
  }
}

function randomLogits(seed: number, V: number, scale: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(V);
  rng.fillNormal(out, scale);
  return out;
}

gpuTest(
  "GPU greedy sampling picks the argmax, the lowest id on ties, after the penalty",
  async (gpu) => {
    const logits = new Float32Array([0.5, 3, -1, 3, 2.9, -4, 0]);
    const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1 };
    assert.deepEqual([...await drawMany(gpu, logits, [], greedy, 2)], [1, 1]);
    const penalised = { ...greedy, repetitionPenalty: 1.5 };
    // 1 and 3 were seen: 3/1.5 = 2 < 2.9, so 4 wins.
    assert.deepEqual([...await drawMany(gpu, logits, [1, 3], penalised, 1)], [4]);
    const big = randomLogits(3, 1000, 2);
    const want = samplingDistribution(big, { temperature: 0 }, []).ids![0];
    assert.deepEqual([...await drawMany(gpu, big, [], greedy, 1)], [want]);
  },
);

for (
  const options of [
    { temperature: 0.8, topK: 12, topP: 1, repetitionPenalty: 1 },
    { temperature: 1.2, topK: 0, topP: 0.7, repetitionPenalty: 1 },
    { temperature: 0.7, topK: 20, topP: 0.9, repetitionPenalty: 1.3 },
  ]
) {
  gpuTest(
    `GPU sampling draws from the host's distribution (${JSON.stringify(options)})`,
    async (gpu) => {
      const V = 61, draws = 1500;
      const logits = randomLogits(7, V, 1.5);
      const seen = [0, 5, 9, 30];
      const dist = samplingDistribution(logits, options, seen);
      const tokens = await drawMany(gpu, logits, seen, { ...options, seed: 99 }, draws);
      assertDrawsFollow(tokens, dist);
    },
  );
}

gpuTest(
  "GPU presence and frequency penalties count generated ids only, as OpenAI's formula",
  async (gpu) => {
    // Prompt [0]; generated [1, 1, 2]: 1 counts twice, 2 once; the prompt's 0 is not penalised.
    const logits = new Float32Array([5, 4.5, 4.2, 3]);
    const previous = [0, 1, 1, 2];
    const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1 };
    // Frequency 1.5 and presence −2 (a bonus): 0 keeps 5, 1 → 4.5 − 3 + 2 = 3.5 and
    // 2 → 4.2 − 1.5 + 2 = 4.7, so 0 stays the argmax; with frequency 1 instead, 2 → 5.2 wins.
    const options = { ...greedy, frequencyPenalty: 1.5, presencePenalty: -2 };
    assert.deepEqual([...await drawMany(gpu, logits, previous, options, 1, 1)], [0]);
    options.frequencyPenalty = 1;
    const want = samplingDistribution(logits, options, previous, 1).ids![0];
    assert.equal(want, 2);
    assert.deepEqual([...await drawMany(gpu, logits, previous, options, 1, 1)], [want]);
    // Generated [1, 0], presence 2: 0 → 3, 1 → 2.5, 2 and 3 keep 4.2 and 3.
    const presence = { ...greedy, presencePenalty: 2 };
    assert.deepEqual([...await drawMany(gpu, logits, [1, 0], presence, 1, 0)], [2]);
    assert.equal(samplingDistribution(logits, presence, [1, 0], 0).ids![0], 2);
    // The prompt bit alone is no generated count: with only the prompt, nothing changes.
    assert.deepEqual([...await drawMany(gpu, logits, [0], presence, 1)], [0]);
    assert.equal(SEEN_IN_PROMPT >>> 31, 1);
  },
);

gpuTest("GPU sampling with min-p and penalties draws from the host's distribution", async (gpu) => {
  const V = 61, draws = 1500;
  const logits = randomLogits(17, V, 1.5);
  const previous = [3, 4, 7, 7, 9, 3]; // prompt [3, 4]; generated 7 twice, 9 and 3 once
  const options = {
    temperature: 0.9,
    topK: 0,
    topP: 0.95,
    repetitionPenalty: 1.1,
    presencePenalty: 0.5,
    frequencyPenalty: 0.7,
    minP: 0.05,
  };
  const dist = samplingDistribution(logits, options, previous, 2);
  const kept = keptIds(dist);
  assert.ok(kept.size > 3 && kept.size < V, `min-p keeps ${kept.size} of ${V}`);
  const tokens = await drawMany(gpu, logits, previous, { ...options, seed: 7 }, draws, 2);
  assertDrawsFollow(tokens, dist);
});

gpuTest("GPU sampling is reproducible for a seed and differs across seeds", async (gpu) => {
  const logits = randomLogits(11, 300, 1);
  const params = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 5 };
  const a = await drawMany(gpu, logits, [], params, 64);
  const b = await drawMany(gpu, logits, [], params, 64);
  const c = await drawMany(gpu, logits, [], { ...params, seed: 6 }, 64);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});
