import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "./rng.ts";

Deno.test("Rng matches the xoshiro128** reference outputs for a given state", () => {
  // State and outputs from the C reference implementation (prng.di.unimi.it), as published in
  // the xoshiro-6502 test data.
  const rng = Rng.fromState([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
  const got = [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()];
  assert.deepEqual(got, [0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
  // Worked by hand from the algorithm: s = [1, 2, 3, 4] gives rotl(10, 7)·9 = 11520, then 0.
  const small = Rng.fromState([1, 2, 3, 4]);
  assert.equal(small.nextU32(), 11520);
  assert.equal(small.nextU32(), 0);
});

Deno.test("Rng state round trip resumes the exact stream", () => {
  const rng = new Rng(123);
  for (let i = 0; i < 17; i++) rng.nextU32();
  const saved = JSON.parse(JSON.stringify(rng.state()));
  const expected = Array.from({ length: 8 }, () => rng.nextFloat());
  const resumed = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 8 }, () => resumed.nextFloat()), expected);
});

Deno.test("Rng gives the same stream for a seed and different streams for different seeds", () => {
  const draw = (seed: number) => {
    const r = new Rng(seed);
    return Array.from({ length: 4 }, () => r.nextU32());
  };
  assert.deepEqual(draw(7), draw(7));
  const seeds = [0, 1, 2, -1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER];
  const streams = new Set(seeds.map((s) => draw(s).join(",")));
  assert.equal(streams.size, seeds.length);
});

Deno.test("Rng rejects bad seeds and bad states", () => {
  assert.throws(() => new Rng(1.5), /seed must be a safe integer, got 1.5/);
  assert.throws(() => new Rng(NaN), /got NaN/);
  assert.throws(() => Rng.fromState([1, 2, 3]), /four unsigned 32-bit integers, got \[1,2,3\]/);
  assert.throws(() => Rng.fromState([1, 2, 3, 2 ** 32]), /four unsigned 32-bit integers/);
  assert.throws(() => Rng.fromState([1, 2, -3, 4]), /four unsigned 32-bit integers/);
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), /must not be all zeros/);
});

Deno.test("Rng floats, uniforms and normals have the right range and moments", () => {
  const rng = new Rng(2024);
  const n = 100_000;
  let sum = 0, min = 1, max = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.nextFloat();
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  assert.ok(min >= 0 && max < 1, `nextFloat out of [0, 1): min ${min}, max ${max}`);
  // The standard error of the mean is 0.29/√n ≈ 0.0009; allow 5σ.
  assertClose([sum / n], [0.5], { atol: 0.005, rtol: 0, label: "uniform mean" });

  const u = new Float32Array(n); // (n)
  rng.fillUniform(u, -3, 5);
  assert.ok(u.every((x) => x >= -3 && x <= 5), "fillUniform left [-3, 5]");
  assertClose([u.reduce((a, b) => a + b, 0) / n], [1], { atol: 0.04, rtol: 0, label: "mean" });
  assert.equal(rng.uniform(2, 2), 2);

  const g = new Float32Array(n); // (n)
  rng.fillNormal(g, 0.5);
  const mean = g.reduce((a, b) => a + b, 0) / n;
  const variance = g.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  const kurtosis = g.reduce((a, b) => a + (b - mean) ** 4, 0) / n / variance ** 2;
  assertClose([mean, Math.sqrt(variance), kurtosis], [0, 0.5, 3], {
    atol: 0.01,
    rtol: 0.05,
    label: "normal mean, std, kurtosis",
  });
  assert.ok(g.every(Number.isFinite));
});

Deno.test("permutation holds every index once, is reproducible and differs across seeds", () => {
  const a = new Rng(3).permutation(50);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(new Rng(3).permutation(50), a);
  assert.notDeepEqual(new Rng(4).permutation(50), a);
  assert.deepEqual(new Rng(1).permutation(0), []);
});
