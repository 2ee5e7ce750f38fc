import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { sampleToken, samplingDistribution, type SamplingOptions } from "./sampling.ts";

/**
 * Plain-loop reference: the kept ids and their probabilities after repetition penalty,
 * temperature (0: the first argmax), top-k (ties kept) and top-p, by sorting the whole
 * vocabulary.
 */
function referenceKept(
  logits: Float32Array,
  { temperature = 1, topK = 0, topP = 1, repetitionPenalty = 1 }: SamplingOptions,
  previousIds: number[] = [],
): Map<number, number> {
  const scores = Array.from(logits);
  for (const id of new Set(previousIds)) {
    scores[id] = scores[id] < 0 ? scores[id] * repetitionPenalty : scores[id] / repetitionPenalty;
  }
  if (temperature === 0) return new Map([[scores.indexOf(Math.max(...scores)), 1]]);
  const scaled = scores.map((s) => s / temperature);
  const order = scaled.map((_, i) => i).sort((a, b) => scaled[b] - scaled[a] || a - b);
  let kept = order.filter((i) => scaled[i] > -Infinity);
  if (topK > 0 && kept.length > topK) {
    kept = kept.filter((i) => scaled[i] >= scaled[kept[topK - 1]]);
  }
  const max = scaled[kept[0]];
  let probs = kept.map((i) => Math.exp(scaled[i] - max));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / sum);
  if (topP < 1) {
    let cumulative = 0, n = 0;
    while (n < kept.length && cumulative < topP) cumulative += probs[n++];
    kept = kept.slice(0, n);
    probs = probs.slice(0, n);
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  return new Map(kept.map((id, j) => [id, probs[j]]));
}

/** Checks that samplingDistribution keeps exactly the reference ids, with its probabilities. */
function assertSameDistribution(
  logits: Float32Array,
  options: SamplingOptions,
  previousIds: number[] = [],
): void {
  const expected = referenceKept(logits, options, previousIds);
  const { ids, weights, total } = samplingDistribution(logits, options, previousIds);
  const got = ids ?? [...weights.keys()].filter((i) => logits[i] > -Infinity);
  const label = JSON.stringify(options);
  assert.deepEqual(
    [...got].sort((a, b) => a - b),
    [...expected.keys()].sort((a, b) => a - b),
    label,
  );
  assertClose(got.map((id) => weights[id] / total), got.map((id) => expected.get(id)!), {
    atol: 1e-9,
    rtol: 1e-6,
    label,
  });
}

/** Draws `n` tokens and returns their counts. */
function drawCounts(
  logits: Float32Array,
  options: SamplingOptions,
  n: number,
  seed: number,
  previousIds: number[] = [],
): Map<number, number> {
  const rng = new Rng(seed);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = sampleToken(logits, options, rng, previousIds);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * Checks that every draw is a kept id and that Pearson's chi-square against the reference
 * stays under a bound loose enough (about 6σ) not to flake, yet far below what a wrong
 * distribution gives with this many draws. Ids expected fewer than 5 times are pooled.
 */
function assertDistribution(
  logits: Float32Array,
  options: SamplingOptions,
  previousIds: number[] = [],
  n = 20_000,
): void {
  const expected = referenceKept(logits, options, previousIds);
  const counts = drawCounts(logits, options, n, 99, previousIds);
  for (const id of counts.keys()) {
    assert.ok(expected.has(id), `drew excluded id ${id} with ${JSON.stringify(options)}`);
  }
  const cells: [number, number][] = []; // (observed, expected) per cell
  const pooled: [number, number] = [0, 0];
  for (const [id, p] of expected) {
    const cell: [number, number] = [counts.get(id) ?? 0, n * p];
    if (cell[1] >= 5) cells.push(cell);
    else [pooled[0], pooled[1]] = [pooled[0] + cell[0], pooled[1] + cell[1]];
  }
  if (pooled[1] > 0) cells.push(pooled);
  const chi2 = cells.reduce((sum, [o, e]) => sum + (o - e) ** 2 / e, 0);
  const dof = Math.max(cells.length - 1, 1);
  const bound = dof + 6 * Math.sqrt(2 * dof) + 10;
  assert.ok(
    chi2 < bound,
    `chi-square ${chi2.toFixed(1)} ≥ ${bound.toFixed(1)} (dof ${dof}) with ${
      JSON.stringify(options)
    }`,
  );
}

const probs = (ps: number[]) => new Float32Array(ps.map(Math.log)); // (V) logits from probs

Deno.test("sampleToken greedy picks the argmax, lowest index on ties", () => {
  const rng = new Rng(1);
  const before = rng.state();
  assert.equal(sampleToken(new Float32Array([0.5, 3, -1, 2.9]), { temperature: 0 }, rng, []), 1);
  assert.equal(sampleToken(new Float32Array([1, 4, 4, 4]), { temperature: 0 }, rng, []), 1);
  assert.equal(
    sampleToken(new Float32Array([-Infinity, -Infinity, -5]), { temperature: 0 }, rng, []),
    2,
  );
  assert.deepEqual(rng.state(), before, "greedy must not consume randomness");
});

Deno.test("sampleToken repetition penalty divides positive and multiplies negative logits", () => {
  const greedy = (logits: number[], prev: number[]) =>
    sampleToken(
      new Float32Array(logits),
      { temperature: 0, repetitionPenalty: 2 },
      new Rng(0),
      prev,
    );
  assert.equal(greedy([3, 2], [0]), 1); // 3 / 2 = 1.5 < 2
  assert.equal(greedy([-1, -1.5], [0]), 1); // -1 · 2 = -2 < -1.5
  assert.equal(greedy([4, 1.5], [0, 0, 0]), 0); // once per distinct id: 4 / 2 = 2 > 1.5
  assert.equal(greedy([3, 2], [1]), 0);
  assertDistribution(probs([0.25, 0.25, 0.5]), { repetitionPenalty: 1.3 }, [2, 0]);
});

Deno.test("sampleToken samples the softmax, sharpened by temperature", () => {
  assertDistribution(probs([0.1, 0.2, 0.3, 0.4]), {});
  assertDistribution(probs([0.1, 0.2, 0.3, 0.4]), { temperature: 0.5 });
  assertDistribution(probs([0.1, 0.2, 0.3, 0.4]), { temperature: 2 });
  // The reference itself: temperature 0.5 squares the probabilities.
  const sharp = referenceKept(probs([0.1, 0.2, 0.3, 0.4]), { temperature: 0.5 });
  assertClose([...sharp.values()], [0.16, 0.09, 0.04, 0.01].map((p) => p / 0.3), {
    atol: 1e-6,
    label: "temperature 0.5 probabilities",
  });
  // -Infinity logits are never drawn.
  const masked = new Float32Array([0, -Infinity, 0, -Infinity]);
  assert.deepEqual([...drawCounts(masked, {}, 2000, 5).keys()].sort(), [0, 2]);
});

Deno.test("sampleToken top-k keeps the k most likely and their ties", () => {
  const logits = probs([0.1, 0.2, 0.3, 0.4]);
  assert.deepEqual([...drawCounts(logits, { topK: 2 }, 4000, 3).keys()].sort(), [2, 3]);
  assertDistribution(logits, { topK: 2 });
  assertDistribution(logits, { topK: 1 });
  const tied = new Float32Array([1, 1, 1, 0]);
  assert.deepEqual([...drawCounts(tied, { topK: 2 }, 4000, 3).keys()].sort(), [0, 1, 2]);
  assertDistribution(tied, { topK: 2 });
});

Deno.test("sampleToken top-p keeps the smallest set reaching p, at least one token", () => {
  const logits = probs([0.1, 0.4, 0.2, 0.3]);
  assert.deepEqual([...drawCounts(logits, { topP: 0.65 }, 4000, 4).keys()].sort(), [1, 3]);
  assert.deepEqual([...drawCounts(logits, { topP: 0.75 }, 4000, 4).keys()].sort(), [1, 2, 3]);
  assert.deepEqual([...drawCounts(logits, { topP: 0.01 }, 100, 4).keys()], [1]);
  assertDistribution(logits, { topP: 0.65 });
  assertDistribution(logits, { topP: 0.85, temperature: 0.7 });
  // Top-p acts on the top-k distribution renormalised: 0.4 / 0.7 ≥ 0.5 keeps one token,
  // where top-p alone (0.4 < 0.5) keeps two.
  assert.deepEqual([...drawCounts(logits, { topK: 2, topP: 0.5 }, 1000, 4).keys()], [1]);
  assert.deepEqual([...drawCounts(logits, { topP: 0.5 }, 4000, 4).keys()].sort(), [1, 3]);
});

Deno.test("samplingDistribution matches the full-sort reference on random vocabularies", () => {
  const logits = new Float32Array(5000); // (V)
  new Rng(8).fillNormal(logits, 1.5);
  logits[17] = logits[18] = logits[4999] = 5; // ties at the top
  logits[40] = logits[41] = logits[42] = 1.25; // ties further down
  logits[3] = -Infinity;
  const previous = [17, 3, 400, 400, 1200];
  for (
    const options of [
      { temperature: 0 },
      {},
      { temperature: 0.05 },
      { topP: 0.3 },
      { topP: 0.6 },
      { topP: 0.999, temperature: 1.3 },
      { topK: 1 },
      { topK: 2 },
      { topK: 300, temperature: 0.8 },
      { topK: 4999 },
      { topK: 9999 },
      { topK: 800, topP: 0.7, repetitionPenalty: 1.5 },
    ]
  ) {
    assertSameDistribution(logits, options);
    assertSameDistribution(logits, { ...options, repetitionPenalty: 1.3 }, previous);
  }
  const peaked = new Float32Array(5000); // (V)
  new Rng(9).fillNormal(peaked, 6);
  for (const topP of [0.5, 0.9, 0.99]) assertSameDistribution(peaked, { topP });
  assertSameDistribution(peaked, { topK: 40, topP: 0.9, temperature: 0.7 });
});

Deno.test("samplingDistribution finds the top-p boundary inside a large flat tail", () => {
  // One token at logit 12 (probability ≈ 0.765) over 50 000 tokens at logit 0: the nucleus is
  // the top token plus the lowest ids of the tail, enough to reach 0.9.
  const v = 50_001, topId = 777;
  const logits = new Float32Array(v); // (V)
  logits[topId] = 12;
  const { ids } = samplingDistribution(logits, { topP: 0.9 }, []);
  const tail = Math.ceil(0.9 * (Math.exp(12) + v - 1) - Math.exp(12));
  assert.equal(ids!.length, tail + 1);
  assert.deepEqual([...ids!].sort((a, b) => a - b).slice(0, 3), [0, 1, 2]);
  assert.ok(ids!.includes(topId) && ids!.every((id) => id <= tail));
  assertSameDistribution(logits, { topP: 0.9 });
});

Deno.test("sampleToken draws from a large distribution in proportion", () => {
  const logits = new Float32Array(2000); // (V)
  new Rng(10).fillNormal(logits, 2);
  assertDistribution(logits, { topP: 0.8, topK: 500 }, [], 4000);
});

Deno.test("sampleToken is reproducible for a seed and differs across seeds", () => {
  const logits = new Float32Array(Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3));
  const run = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, { topK: 40, topP: 0.95 }, rng, []));
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
});

Deno.test("sampleToken rejects bad logits and options", () => {
  const rng = new Rng(0);
  const ok = new Float32Array([0, 1]);
  assert.throws(() => sampleToken(new Float32Array([0, NaN]), {}, rng, []), /Logit 1 is NaN/);
  assert.throws(
    () => sampleToken(new Float32Array([Infinity, 0]), { temperature: 0 }, rng, []),
    /Logit 0 is Infinity/,
  );
  assert.throws(
    () => sampleToken(new Float32Array([-Infinity, -Infinity]), {}, rng, []),
    /All 2 logits are -Infinity/,
  );
  assert.throws(() => sampleToken(new Float32Array(0), {}, rng, []), /must not be empty/);
  assert.throws(() => sampleToken(ok, { temperature: -1 }, rng, []), /Temperature .* got -1/);
  assert.throws(() => sampleToken(ok, { topK: 1.5 }, rng, []), /Top-k .* got 1.5/);
  assert.throws(() => sampleToken(ok, { topP: 0 }, rng, []), /Top-p must be in \(0, 1\], got 0/);
  assert.throws(() => sampleToken(ok, { topP: 1.1 }, rng, []), /got 1.1/);
  assert.throws(
    () => sampleToken(ok, { repetitionPenalty: 0 }, rng, []),
    /Repetition penalty .* got 0/,
  );
  assert.throws(
    () => sampleToken(ok, { repetitionPenalty: 1.2 }, rng, [2]),
    /Previous token id 2 is outside the logits \[0, 2\)/,
  );
});

Deno.test("presence and frequency penalties follow OpenAI's formula over the generated ids only", () => {
  const logits = new Float32Array([2, 1, 0.5, -1]);
  const options = { temperature: 1, presencePenalty: 0.5, frequencyPenalty: 0.25 };
  // Prompt [0, 1]; generated [1, 3, 3]: 1 once (−0.75), 3 twice (−1); 0 only in the prompt.
  const { weights, total } = samplingDistribution(logits, options, [0, 1, 1, 3, 3], 2);
  const scores = [2, 1 - 0.75, 0.5, -1 - 1];
  const z = scores.reduce((sum, s) => sum + Math.exp(s - 2), 0);
  scores.forEach((s, i) => assertNear(weights[i] / total, Math.exp(s - 2) / z, 1e-12));
  // Without a prompt length every previous id is a prompt id: no presence or frequency penalty.
  const unpenalised = samplingDistribution(logits, options, [0, 1, 1, 3, 3]);
  assertNear(
    unpenalised.weights[3] / unpenalised.total,
    Math.exp(-3) / [2, 1, 0.5, -1]
      .reduce((sum, s) => sum + Math.exp(s - 2), 0),
    1e-12,
  );
  assert.throws(
    () => samplingDistribution(logits, { presencePenalty: 2.5 }, []),
    /Presence penalty/,
  );
  assert.throws(
    () => samplingDistribution(logits, { frequencyPenalty: -3 }, []),
    /Frequency penalty/,
  );
});

Deno.test("min-p keeps the ids at least min_p times as likely as the best, after temperature", () => {
  const logits = new Float32Array([0, Math.log(0.5), Math.log(0.1), Math.log(0.04)]);
  const kept = (minP: number, temperature = 1) => {
    const { weights } = samplingDistribution(logits, { minP, temperature }, []);
    return [...weights.keys()].filter((i) => weights[i] > 0);
  };
  assert.deepEqual(kept(0.05), [0, 1, 2]);
  assert.deepEqual(kept(0.45), [0, 1]);
  assert.deepEqual(kept(0.55), [0]);
  assert.deepEqual(kept(0), [0, 1, 2, 3]);
  assert.deepEqual(kept(0.05, 2), [0, 1, 2, 3], "a higher temperature flattens: 0.04^(1/2) = 0.2");
  assert.throws(() => samplingDistribution(logits, { minP: 1.5 }, []), /Min-p/);
});

/** Asserts |got − want| ≤ tolerance. */
function assertNear(got: number, want: number, tolerance: number): void {
  assert.ok(Math.abs(got - want) <= tolerance, `${got} vs ${want}`);
}
