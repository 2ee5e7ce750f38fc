/**
 * Tensor element types of safetensors files and the conversions between them.
 *
 * Half-precision values travel as their raw 16-bit patterns in a `Uint16Array`; conversions to
 * those patterns round to nearest, ties to even, like PyTorch's `.to(torch.bfloat16)` and
 * `.to(torch.float16)`. Typed arrays use the platform byte order, which is little-endian on
 * every platform Deno and WebGPU run on, as safetensors requires.
 *
 * @module
 */

/** An element type as safetensors spells it. */
export type DType = "F32" | "F16" | "BF16";

/** The dtypes this project reads and writes, in the order error messages list them. */
export const DTYPES: readonly DType[] = ["F32", "F16", "BF16"];

/**
 * Whether a string is one of the supported {@linkcode DType}s.
 *
 * @example
 * ```ts
 * isDType("BF16"); // true
 * isDType("bf16"); // false: safetensors spells them in capitals
 * ```
 */
export function isDType(value: string): value is DType {
  return (DTYPES as readonly string[]).includes(value);
}

/** The size of one element of `dtype` in bytes. */
export function dtypeBytes(dtype: DType): number {
  return dtype === "F32" ? 4 : 2;
}

/** Widens bfloat16 bit patterns to float32 values (exact). */
export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

/**
 * Rounds float32 values to bfloat16 bit patterns, to nearest with ties to even. NaN stays NaN
 * (quiet, sign kept); values past the largest bfloat16 round to ±Infinity.
 * Writes into `out` when given (same length), else into a new array.
 */
export function f32ToBf16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  checkSameLength(values.length, out.length);
  const u32 = viewAsU32(values);
  for (let i = 0; i < u32.length; i++) {
    const u = u32[i];
    if ((u & 0x7fffffff) > 0x7f800000) out[i] = (u >>> 16) | 0x0040;
    else out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Widens IEEE half-precision bit patterns to float32 values (exact, subnormals included). */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) outBits[i] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    else if (exp !== 0) outBits[i] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    else out[i] = (sign ? -mant : mant) * 2 ** -24; // zero or subnormal
  }
  return out;
}

/**
 * Rounds float32 values to IEEE half-precision bit patterns, to nearest with ties to even,
 * producing subnormals for tiny values and ±Infinity past 65504. NaN stays NaN.
 * Writes into `out` when given (same length), else into a new array.
 */
export function f32ToF16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  checkSameLength(values.length, out.length);
  const u32 = viewAsU32(values);
  for (let i = 0; i < u32.length; i++) out[i] = f32BitsToF16Bits(u32[i]);
  return out;
}

function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  const m = u & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m !== 0 ? 0x200 | (m >>> 13) : 0);
  const exp = e - 112; // the exponent re-biased for half precision
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign; // below half the smallest subnormal: rounds to zero
    const full = m | 0x800000;
    const shift = 14 - exp;
    return sign | roundShift(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent, up to Infinity.
  return sign | roundShift((exp << 23) | m, 13);
}

/** `value >> shift` rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const q = value >>> shift;
  const rem = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

function viewAsU32(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function checkSameLength(inLength: number, outLength: number): void {
  if (inLength !== outLength) {
    throw new RangeError(`Output length ${outLength} differs from input length ${inLength}`);
  }
}
