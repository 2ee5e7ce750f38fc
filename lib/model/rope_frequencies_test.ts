import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { type RopeConfig, ropeInverseFrequencies, ropeTables } from "./rope_frequencies.ts";

/** Llama-3.2-1B's rope settings (HD 64, theta 500000, llama3 factor 32). */
const llama32: RopeConfig = {
  headDim: 64,
  ropeTheta: 500000,
  ropeScaling: {
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  },
};

/** The llama3 rules of DESIGN.md, written independently in f64 from the wavelength. */
function llama3InvFreqF64(config: RopeConfig): number[] {
  const s = config.ropeScaling!;
  const out: number[] = [];
  for (let i = 0; i < config.headDim / 2; i++) {
    const f = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < s.originalMaxPositionEmbeddings / s.highFreqFactor) out.push(f);
    else if (wavelen > s.originalMaxPositionEmbeddings / s.lowFreqFactor) out.push(f / s.factor);
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
        (s.highFreqFactor - s.lowFreqFactor);
      out.push((1 - smooth) * f / s.factor + smooth * f);
    }
  }
  return out;
}

Deno.test("ropeInverseFrequencies without scaling is theta^(-2i/HD)", () => {
  const config: RopeConfig = { headDim: 16, ropeTheta: 10000, ropeScaling: null };
  const inv = ropeInverseFrequencies(config);
  assert.equal(inv.length, 8);
  assert.equal(inv[0], 1);
  assertClose(inv, Array.from({ length: 8 }, (_, i) => 10000 ** (-i / 8)), { rtol: 2e-7, atol: 0 });
});

Deno.test("ropeInverseFrequencies applies llama3 scaling in all three bands", () => {
  const inv = ropeInverseFrequencies(llama32);
  const expected = llama3InvFreqF64(llama32);
  assertClose(inv, expected, { rtol: 1e-6, atol: 0, label: "llama3 inv_freq" });
  // The config's bands must all be exercised for the test to mean something.
  const plain = ropeInverseFrequencies({ ...llama32, ropeScaling: null });
  const ratios = Array.from(inv, (v, i) => plain[i] / v);
  assert.ok(ratios.some((r) => r === 1), "some high frequencies are kept");
  assert.ok(ratios.some((r) => Math.abs(r - 32) < 1e-5), "some low frequencies are divided");
  assert.ok(ratios.some((r) => r > 1.001 && r < 31.99), "some frequencies are interpolated");
});

Deno.test("ropeTables holds cos and sin of f32 position times inv_freq", () => {
  const positions = 37;
  const { cos, sin } = ropeTables(llama32, positions);
  const inv = ropeInverseFrequencies(llama32);
  assert.equal(cos.length, positions * 32);
  assert.equal(sin.length, positions * 32);
  for (let i = 0; i < 32; i++) {
    assert.equal(cos[i], 1);
    assert.equal(sin[i], 0);
  }
  const angles = Array.from({ length: positions * 32 }, (_, k) => Math.floor(k / 32) * inv[k % 32]);
  assertClose(cos, angles.map(Math.cos), { atol: 1e-6, rtol: 0, label: "cos" });
  assertClose(sin, angles.map(Math.sin), { atol: 1e-6, rtol: 0, label: "sin" });
});

Deno.test("ropeTables rounds the angle to f32 before cos and sin", () => {
  // At a large position the f32 rounding of position · inv_freq is visible in sin.
  const config: RopeConfig = { headDim: 4, ropeTheta: 10000, ropeScaling: null };
  const p = 1_000_003;
  const { sin } = ropeTables(config, p + 1);
  const inv = ropeInverseFrequencies(config)[1]; // f32(0.01)
  const exact = Math.fround(Math.sin(p * inv));
  const rounded = Math.fround(Math.sin(Math.fround(p * inv)));
  assert.ok(Math.abs(exact - rounded) > 1e-4, "the check must be able to tell the two apart");
  assert.equal(sin[p * 2 + 1], rounded);
});

Deno.test("rope rejects an odd head dimension, bad theta, bad scaling and bad positions", () => {
  assert.throws(
    () => ropeInverseFrequencies({ headDim: 15, ropeTheta: 1e4, ropeScaling: null }),
    /Head dimension 15/,
  );
  assert.throws(
    () => ropeInverseFrequencies({ headDim: 16, ropeTheta: 0, ropeScaling: null }),
    /Rope theta 0/,
  );
  assert.throws(
    () =>
      ropeInverseFrequencies({
        ...llama32,
        ropeScaling: { ...llama32.ropeScaling!, highFreqFactor: 0.5 },
      }),
    /Rope scaling/,
  );
  assert.throws(() => ropeTables(llama32, 2.5), /Position count 2.5/);
  assert.throws(() => ropeTables(llama32, -1), /Position count -1/);
});
