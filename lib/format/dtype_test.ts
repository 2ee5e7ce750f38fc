import assert from "node:assert/strict";
import {
  bf16BitsToF32,
  dtypeBytes,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  isDType,
} from "./dtype.ts";
import { Rng } from "../util/rng.ts";

// The references below decode bit patterns with DataView and Math.pow and pick the nearest
// candidate by exact float64 distances, independently of the shift tricks in dtype.ts.

const view = new DataView(new ArrayBuffer(4));

function bitsToF32(bits: number): number {
  view.setUint32(0, bits >>> 0);
  return view.getFloat32(0);
}

function f32ToBits(value: number): number {
  view.setFloat32(0, value);
  return view.getUint32(0);
}

/** The value of a bfloat16 pattern; an all-ones exponent with zero mantissa counts as 2^128. */
function bf16Value(bits: number): number {
  const magnitude = bits & 0x7fff;
  const value = magnitude === 0x7f80 ? 2 ** 128 : Math.abs(bitsToF32(magnitude << 16));
  return bits & 0x8000 ? -value : value;
}

function referenceBf16(x: number): number {
  const u = f32ToBits(x);
  if (Number.isNaN(x)) return -1; // checked separately
  if (!Number.isFinite(x)) return u >>> 16;
  const lo = (u >>> 16) & 0xffff;
  const hi = lo + 1;
  const dLo = Math.abs(x - bf16Value(lo));
  const dHi = Math.abs(bf16Value(hi) - x);
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  return (lo & 1) === 0 ? lo : hi;
}

/** Positive half-precision values by pattern; index 0x7c00 is the overflow point 2^16. */
const F16_POSITIVE = Array.from({ length: 0x7c01 }, (_, bits) => {
  const exp = bits >>> 10, mant = bits & 0x3ff;
  if (exp === 0) return mant * Math.pow(2, -24);
  return (1 + mant / 1024) * Math.pow(2, exp - 15);
});

function referenceF16(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= F16_POSITIVE[0x7c00]) return sign | 0x7c00;
  let lo = 0, hi = 0x7c00; // F16_POSITIVE[lo] <= a < F16_POSITIVE[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (F16_POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - F16_POSITIVE[lo], dHi = F16_POSITIVE[hi] - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : (lo & 1) === 0 ? lo : hi;
  return sign | pick;
}

/** `count` seeded random 32-bit words. */
function randomBits(count: number, seed: number): Uint32Array {
  const rng = new Rng(seed);
  return Uint32Array.from({ length: count }, () => rng.nextU32());
}

const SPECIALS = [
  0,
  -0,
  1,
  -1,
  Infinity,
  -Infinity,
  3.4028234663852886e38, // largest float32: rounds to Infinity in bf16 and f16
  -3.4028234663852886e38,
  65504,
  65519.99,
  65520, // the f16 overflow tie: rounds to Infinity
  -65520,
  2 ** -24, // smallest f16 subnormal
  2 ** -25, // half of it: ties to zero
  2 ** -25 * 1.0000001,
  1.5 * 2 ** -24, // ties to even subnormal 2
  6.097555160522461e-5, // largest f16 subnormal
  6.103515625e-5, // smallest f16 normal
  1e-45, // float32 subnormal
  -1.1754942106924411e-38, // largest float32 subnormal
  1.1754943508222875e-38, // smallest float32 normal
  0.1,
  -2.5,
  1 / 3,
];

/** Float32 values at the exact midpoint between two neighbouring bf16 or f16 values. */
function tieValues(): number[] {
  const out: number[] = [];
  for (const bits of randomBits(2000, 7)) {
    out.push(bitsToF32((bits & 0xffff0000) | 0x8000)); // bf16 ties, both parities
  }
  for (const bits of randomBits(2000, 8)) {
    const p = bits % 0x7bff; // a finite f16 pattern with a finite successor
    const mid = (F16_POSITIVE[p] + F16_POSITIVE[p + 1]) / 2;
    assert.equal(Math.fround(mid), mid);
    out.push(bits & 0x80000000 ? -mid : mid);
  }
  return out;
}

function testValues(): Float32Array {
  const random = randomBits(100_000, 1);
  const randomF32 = new Float32Array(random.buffer);
  // Values in and around the f16 range, where f16 rounding is interesting.
  const near = Array.from(
    randomBits(100_000, 2),
    (b) => (b / 2 ** 32 - 0.5) * 2 ** ((b % 40) - 25),
  );
  return Float32Array.from([...SPECIALS, ...tieValues(), ...randomF32, ...near]);
}

Deno.test("dtypeBytes and isDType", () => {
  assert.equal(dtypeBytes("F32"), 4);
  assert.equal(dtypeBytes("F16"), 2);
  assert.equal(dtypeBytes("BF16"), 2);
  assert.ok(isDType("BF16"));
  assert.ok(!isDType("I64"));
  assert.ok(!isDType("bf16"));
});

Deno.test("f32ToBf16Bits rounds to nearest even like the reference", () => {
  const values = testValues();
  const bits = f32ToBf16Bits(values);
  let ties = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) continue;
    const expected = referenceBf16(values[i]);
    if ((f32ToBits(values[i]) & 0xffff) === 0x8000) ties++;
    if (bits[i] !== expected) {
      assert.fail(
        `bf16 of ${values[i]}: got 0x${bits[i].toString(16)}, expected 0x${expected.toString(16)}`,
      );
    }
  }
  assert.ok(ties >= 2000, `only ${ties} ties were tested`);
  assert.equal(f32ToBf16Bits(Float32Array.of(2.5))[0], 0x4020);
  assert.equal(f32ToBf16Bits(Float32Array.of(-Infinity))[0], 0xff80);
});

Deno.test("f32ToBf16Bits keeps NaN as NaN with its sign", () => {
  const nans = new Float32Array(
    new Uint32Array([0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7f80ffff]).buffer,
  );
  const bits = f32ToBf16Bits(nans);
  for (let i = 0; i < bits.length; i++) {
    assert.equal(bits[i] & 0x7f80, 0x7f80);
    assert.notEqual(bits[i] & 0x7f, 0, `pattern 0x${bits[i].toString(16)} is not NaN`);
    assert.equal(bits[i] >>> 15, new Uint32Array(nans.buffer)[i] >>> 31);
  }
  assert.ok(bf16BitsToF32(bits).every(Number.isNaN));
});

Deno.test("bf16BitsToF32 is exact for every pattern", () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const values = bf16BitsToF32(all);
  for (let i = 0; i < 65536; i++) {
    const expected = bitsToF32(i << 16);
    if (!Object.is(values[i], expected)) {
      assert.fail(`bf16 0x${i.toString(16)}: ${values[i]} vs ${expected}`);
    }
  }
  // Every finite pattern survives the round trip.
  const back = f32ToBf16Bits(values);
  for (let i = 0; i < 65536; i++) {
    if (!Number.isNaN(values[i])) assert.equal(back[i], i);
  }
});

Deno.test("f16BitsToF32 decodes every pattern like the reference", () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const values = f16BitsToF32(all);
  for (let i = 0; i < 65536; i++) {
    const magnitude = i & 0x7fff;
    const sign = i & 0x8000 ? -1 : 1;
    let expected: number;
    if (magnitude > 0x7c00) expected = NaN;
    else if (magnitude === 0x7c00) expected = sign * Infinity;
    else expected = sign * F16_POSITIVE[magnitude];
    if (!Object.is(values[i], expected)) {
      assert.fail(`f16 0x${i.toString(16)}: ${values[i]} vs ${expected}`);
    }
  }
  const back = f32ToF16Bits(values);
  for (let i = 0; i < 65536; i++) {
    if ((i & 0x7fff) <= 0x7c00) assert.equal(back[i], i);
    else {assert.ok(
        (back[i] & 0x7fff) > 0x7c00,
        `NaN 0x${i.toString(16)} became 0x${back[i].toString(16)}`,
      );}
  }
});

Deno.test("f32ToF16Bits rounds to nearest even, with subnormals and overflow", () => {
  const values = testValues();
  const bits = f32ToF16Bits(values);
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) {
      assert.ok((bits[i] & 0x7fff) > 0x7c00);
      continue;
    }
    const expected = referenceF16(values[i]);
    if (bits[i] !== expected) {
      assert.fail(
        `f16 of ${values[i]}: got 0x${bits[i].toString(16)}, expected 0x${expected.toString(16)}`,
      );
    }
  }
  assert.equal(f32ToF16Bits(Float32Array.of(65520))[0], 0x7c00);
  assert.equal(f32ToF16Bits(Float32Array.of(2 ** -25))[0], 0);
  assert.equal(f32ToF16Bits(Float32Array.of(1.5 * 2 ** -24))[0], 2);
});

Deno.test("conversions write into a given output and check its length", () => {
  const out = new Uint16Array(2);
  assert.equal(f32ToBf16Bits(Float32Array.of(1, 2), out), out);
  assert.deepEqual([...out], [0x3f80, 0x4000]);
  assert.throws(
    () => f32ToF16Bits(Float32Array.of(1), out),
    /Output length 2 differs from input length 1/,
  );
});
