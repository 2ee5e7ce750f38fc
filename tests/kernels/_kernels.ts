/**
 * Helpers shared by the kernel tests: seeded random inputs, weights rounded to their stored
 * dtype, GPU tensors from host arrays, and one recorded submit with GPU errors turned into
 * exceptions (so a shader that fails to compile fails the test by name).
 *
 * @module
 */
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
} from "../../lib/format/dtype.ts";
import { type Gpu, withGpuErrors } from "../../lib/gpu/device.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import { GpuTensor } from "../../lib/gpu/tensor.ts";
import type { Rng } from "../../lib/util/rng.ts";

/** The dtypes a weight can be stored in. */
export type WeightDType = "f32" | "bf16" | "f16";

/** Every weight dtype, for tests that cover them all. */
export const WEIGHT_DTYPES: readonly WeightDType[] = ["f32", "bf16", "f16"];

/** `n` normal samples of standard deviation `std`. */
export function randomF32(rng: Rng, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  rng.fillNormal(out, std);
  return out;
}

/**
 * Row stds for RMSNorm inputs that make eps matter: with eps 1e-5 or 1e-6, a row of std 1e-3
 * has mean(x²) ≈ 1e-6, near eps, a row of std 3 hides eps, and a zero row must give 0, not NaN.
 */
export const NORM_ROW_STDS: readonly number[] = [1e-3, 3, 0];

/** `rows` rows of `cols` normal samples, row r of standard deviation `stds[r % stds.length]`. */
export function rowsOfStd(
  rng: Rng,
  rows: number,
  cols: number,
  stds: readonly number[] = NORM_ROW_STDS,
): Float32Array {
  const out = new Float32Array(rows * cols); // (rows, cols)
  for (let r = 0; r < rows; r++) {
    out.set(randomF32(rng, cols, stds[r % stds.length]), r * cols);
  }
  return out;
}

/** The bytes of `values` stored as `dtype`, and the f32 values those bytes hold. */
export function storeAs(
  values: Float32Array,
  dtype: WeightDType,
): { bytes: Uint8Array; rounded: Float32Array } {
  if (dtype === "f32") {
    return { bytes: new Uint8Array(values.slice().buffer), rounded: values.slice() };
  }
  const bits = dtype === "bf16" ? f32ToBf16Bits(values) : f32ToF16Bits(values);
  const rounded = dtype === "bf16" ? bf16BitsToF32(bits) : f16BitsToF32(bits);
  return { bytes: new Uint8Array(bits.buffer), rounded };
}

/** A tensor of `shape` holding `values` stored as `dtype` (chunked by the device's limit). */
export function tensorOf(
  gpu: Gpu,
  shape: number[],
  values: Float32Array,
  dtype: WeightDType = "f32",
  label = "test",
): { tensor: GpuTensor; rounded: Float32Array } {
  const { bytes, rounded } = storeAs(values, dtype);
  const tensor = GpuTensor.create(gpu, { shape, dtype, label, category: "test" });
  tensor.write(bytes);
  return { tensor, rounded };
}

/** Records commands with `record`, submits them once, and throws on any GPU error. */
export async function runRecorded(
  gpu: Gpu,
  what: string,
  record: (rec: CommandRecorder) => void,
): Promise<void> {
  const rec = new CommandRecorder(gpu);
  await withGpuErrors(gpu.device, what, async () => {
    record(rec);
    rec.submit();
    await gpu.device.queue.onSubmittedWorkDone();
  });
  rec.dispose();
}

/** The (C, R) transpose of a row-major (R, C) matrix. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length); // (C, R)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  }
  return out;
}
