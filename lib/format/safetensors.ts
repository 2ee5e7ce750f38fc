/**
 * Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
 * header mapping each tensor name to `{dtype, shape, data_offsets: [start, end]}` (plus an
 * optional `__metadata__` of string values), then the raw little-endian tensor data.
 *
 * The parser validates everything it relies on (header length, JSON, dtypes, shapes, offsets
 * in range and not overlapping, byte counts) and names the file and tensor in every error.
 *
 * @module
 */
import {
  bf16BitsToF32,
  type DType,
  dtypeBytes,
  DTYPES,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  isDType,
} from "./dtype.ts";

/** One tensor of a safetensors file. */
export interface SafetensorsEntry {
  /** The tensor's name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  name: string;
  /** The element type. */
  dtype: DType;
  /** The dimensions, outermost first (row-major); `[]` is a scalar. */
  shape: number[];
  /** The raw little-endian data: product(shape) × dtypeBytes(dtype) bytes. */
  bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** The tensors by name, in header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** The `__metadata__` strings, or `{}` when the header has none. */
  metadata: Record<string, string>;
}

/** A tensor's name, dtype and shape, without data. */
export type SafetensorsTensorSpec = Omit<SafetensorsEntry, "bytes">;

/** The largest header accepted, as in the reference implementation (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** The number of elements of a tensor with this shape (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Parses a safetensors file. The entries' `bytes` are views into `bytes` (no copy), so they
 * may be unaligned; use {@linkcode entryToF32} to get values. `fileName` is used in errors.
 *
 * @example
 * ```ts
 * const file = parseSafetensors(await Deno.readFile("model.safetensors"), "model.safetensors");
 * for (const [name, t] of file.tensors) console.log(name, t.dtype, t.shape);
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, fileName: string): SafetensorsFile {
  const file = JSON.stringify(fileName);
  if (bytes.length < 8) {
    throw new Error(`Truncated safetensors file ${file}: ${bytes.length} bytes, need at least 8`);
  }
  const headerLength = Number(
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true),
  );
  if (headerLength > MAX_HEADER_BYTES) {
    throw new Error(
      `Safetensors header length ${headerLength} in ${file} exceeds the limit ${MAX_HEADER_BYTES}`,
    );
  }
  if (8 + headerLength > bytes.length) {
    throw new Error(
      `Safetensors header length ${headerLength} in ${file} exceeds the file size ${bytes.length}`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (e) {
    throw new Error(`Invalid safetensors header JSON in ${file}: ${(e as Error).message}`);
  }
  if (!isRecord(header)) {
    throw new Error(`Safetensors header in ${file} is not a JSON object`);
  }
  const data = bytes.subarray(8 + headerLength);
  const metadata = parseMetadata(header["__metadata__"], file);
  const tensors = new Map<string, SafetensorsEntry>();
  const spans: { name: string; start: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const where = `tensor ${JSON.stringify(name)} in ${file}`;
    if (!isRecord(info)) throw new Error(`Header entry of ${where} is not an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== "string" || !isDType(dtype)) {
      throw new Error(
        `Unsupported dtype ${JSON.stringify(dtype)} of ${where}: only ${DTYPES.join(", ")} ` +
          `are supported`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      throw new Error(`Invalid shape ${JSON.stringify(shape)} of ${where}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      throw new Error(`Invalid data_offsets ${JSON.stringify(offsets)} of ${where}`);
    }
    const [start, end] = offsets as number[];
    if (start > end || end > data.length) {
      throw new Error(
        `Data offsets [${start}, ${end}] of ${where} are out of range: the data section has ` +
          `${data.length} bytes`,
      );
    }
    const expected = shapeSize(shape) * dtypeBytes(dtype);
    if (end - start !== expected) {
      throw new Error(
        `Tensor ${JSON.stringify(name)} in ${file} has ${end - start} bytes, but shape ` +
          `[${shape.join(", ")}] of ${dtype} needs ${expected}`,
      );
    }
    spans.push({ name, start, end });
    tensors.set(name, { name, dtype, shape: [...shape], bytes: data.subarray(start, end) });
  }
  checkNoOverlap(spans, file);
  return { tensors, metadata };
}

/**
 * The start of a safetensors file for these tensors: the 8-byte length and the JSON header,
 * padded with spaces to a multiple of 8 bytes. The tensors' data follows it, contiguous in the
 * given order, at the byte offsets `spans` (N + 1 of them) into the data section.
 */
export function safetensorsHeader(
  specs: readonly SafetensorsTensorSpec[],
  metadata?: Record<string, string>,
): { header: Uint8Array; spans: number[] } {
  const header: Record<string, unknown> = Object.create(null); // any name is an own key
  if (metadata !== undefined) header["__metadata__"] = metadata;
  let offset = 0;
  const spans: number[] = []; // (N + 1) byte offsets of the tensors in the data section
  for (const { name, dtype, shape } of specs) {
    if (name === "__metadata__" || Object.hasOwn(header, name)) {
      throw new Error(`Duplicate or reserved tensor name ${JSON.stringify(name)}`);
    }
    if (!isDType(dtype)) throw new Error(`Unsupported dtype ${JSON.stringify(dtype)} of ${name}`);
    if (!shape.every(isNonNegativeInteger)) {
      throw new Error(`Invalid shape ${JSON.stringify(shape)} of tensor ${JSON.stringify(name)}`);
    }
    const size = shapeSize(shape) * dtypeBytes(dtype);
    header[name] = { dtype, shape, data_offsets: [offset, offset + size] };
    spans.push(offset);
    offset += size;
  }
  spans.push(offset);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + headerLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true);
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length);
  return { header: bytes, spans };
}

/**
 * Allocates a complete safetensors file for these tensors, with its header written and the
 * data section zeroed, and returns entries whose `bytes` are views into that file's data, to be
 * filled in place. The header is padded with spaces to a multiple of 8 bytes, so the data
 * section starts at an 8-byte aligned offset of the returned buffer. Tensors are laid out
 * contiguously in the given order; `__metadata__` is written only when `metadata` is given.
 */
export function allocateSafetensors(
  specs: readonly SafetensorsTensorSpec[],
  metadata?: Record<string, string>,
): { bytes: Uint8Array; entries: SafetensorsEntry[] } {
  const { header, spans } = safetensorsHeader(specs, metadata);
  const bytes = new Uint8Array(header.length + spans[spans.length - 1]);
  bytes.set(header);
  const data = bytes.subarray(header.length);
  const entries = specs.map(({ name, dtype, shape }, i) => ({
    name,
    dtype,
    shape: [...shape],
    bytes: data.subarray(spans[i], spans[i + 1]),
  }));
  return { bytes, entries };
}

/**
 * Writes tensors as one safetensors file, in the given order, contiguous, with an 8-byte
 * aligned header. Each entry's byte count must match its shape and dtype.
 *
 * @example
 * ```ts
 * const bytes = serializeSafetensors([f32Entry("w", [2, 2], new Float32Array(4))], { format: "pt" });
 * parseSafetensors(bytes, "w.safetensors").tensors.get("w")!.shape; // [2, 2]
 * ```
 */
export function serializeSafetensors(
  entries: SafetensorsEntry[],
  metadata?: Record<string, string>,
): Uint8Array {
  const file = allocateSafetensors(entries, metadata);
  entries.forEach((entry, i) => {
    const target = file.entries[i].bytes;
    if (entry.bytes.length !== target.length) {
      throw new Error(
        `Tensor ${JSON.stringify(entry.name)} has ${entry.bytes.length} bytes, but shape ` +
          `[${entry.shape.join(", ")}] of ${entry.dtype} needs ${target.length}`,
      );
    }
    target.set(entry.bytes);
  });
  return file.bytes;
}

/**
 * Copies a tensor's values into a new Float32Array, widening F16 and BF16 exactly.
 *
 * @example
 * ```ts
 * const file = parseSafetensors(await Deno.readFile("model.safetensors"), "model.safetensors");
 * const norm = entryToF32(file.tensors.get("model.norm.weight")!); // bf16 widened to f32
 * ```
 */
export function entryToF32(entry: SafetensorsEntry): Float32Array {
  const copy = entry.bytes.slice(); // aligned, owned
  if (entry.dtype === "F32") return new Float32Array(copy.buffer);
  const bits = new Uint16Array(copy.buffer); // (N) raw half-precision patterns
  return entry.dtype === "BF16" ? bf16BitsToF32(bits) : f16BitsToF32(bits);
}

/**
 * Makes an entry from float32 values, rounding them to `dtype` (default F32) to nearest even.
 * `values.length` must equal the product of `shape`.
 *
 * @example
 * ```ts
 * const entry = f32Entry("scale", [2], new Float32Array([0.5, 2]), "BF16");
 * serializeSafetensors([entry], { format: "pt" });
 * ```
 */
export function f32Entry(
  name: string,
  shape: number[],
  values: Float32Array,
  dtype: DType = "F32",
): SafetensorsEntry {
  if (values.length !== shapeSize(shape)) {
    throw new Error(
      `Tensor ${JSON.stringify(name)} has ${values.length} values, but shape ` +
        `[${shape.join(", ")}] holds ${shapeSize(shape)}`,
    );
  }
  let bytes: Uint8Array;
  if (dtype === "F32") bytes = new Uint8Array(values.slice().buffer);
  else if (dtype === "BF16") bytes = new Uint8Array(f32ToBf16Bits(values).buffer);
  else bytes = new Uint8Array(f32ToF16Bits(values).buffer);
  return { name, dtype, shape: [...shape], bytes };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === "string")) {
    throw new Error(
      `Invalid __metadata__ ${JSON.stringify(value)} in ${file}: expected string values`,
    );
  }
  return { ...value } as Record<string, string>;
}

function checkNoOverlap(spans: { name: string; start: number; end: number }[], file: string) {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1], cur = sorted[i];
    if (cur.start < prev.end) {
      throw new Error(
        `Tensor ${JSON.stringify(cur.name)} in ${file} overlaps ${JSON.stringify(prev.name)}: ` +
          `data offsets [${cur.start}, ${cur.end}] and [${prev.start}, ${prev.end}]`,
      );
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
