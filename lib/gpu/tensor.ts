/**
 * GPU tensors: a shape, a dtype and one or more buffers. A tensor larger than the device's
 * storage-binding limit is split by rows (its first dimension) into chunks, each its own
 * buffer, so that the 128256×2048 embedding of Llama-3.2-1B fits a 128 MiB binding limit.
 *
 * @module
 */
import { shapeSize } from "../format/safetensors.ts";
import type { Gpu } from "./device.ts";

/**
 * Element types on the GPU. `bf16` and `f16` are stored packed, two per 32-bit word (element
 * 2i in the low half), and unpacked to f32 inside kernels.
 */
export type GpuDType = "f32" | "bf16" | "f16" | "u32" | "i32";

/** Bytes of one element of `dtype`. */
export function gpuDTypeBytes(dtype: GpuDType): number {
  return dtype === "bf16" || dtype === "f16" ? 2 : 4;
}

/** One buffer of a tensor, holding rows `[rowStart, rowStart + rows)`. */
export interface TensorChunk {
  /** The buffer. */
  buffer: GPUBuffer;
  /** First row held. */
  rowStart: number;
  /** Number of rows held. */
  rows: number;
}

/** Options for {@linkcode GpuTensor.create}. */
export interface TensorOptions {
  /** Dimensions, outermost first. Chunks split the first one. */
  shape: number[];
  /** Element type. */
  dtype: GpuDType;
  /** A name for errors and debugging (a weight's checkpoint name, an activation's role). */
  label: string;
  /** Memory-accounting category (weights, activations, lora, optimizer, kv-cache, workspace). */
  category: string;
  /** Extra usages beyond STORAGE | COPY_SRC | COPY_DST. */
  usage?: number;
}

/**
 * A tensor living in one or more GPU buffers.
 *
 * @example
 * ```ts
 * const gpu = await acquireGpu();
 * const w = GpuTensor.create(gpu, { shape: [128256, 2048], dtype: "bf16", label: "embed", category: "weights" });
 * w.chunks.length; // 5 where a binding holds at most 128 MiB
 * w.destroy();
 * ```
 */
export class GpuTensor {
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: GpuDType;
  /** Name used in errors. */
  readonly label: string;
  /** Memory-accounting category. */
  readonly category: string;
  /** The buffers, in row order. */
  readonly chunks: readonly TensorChunk[];
  readonly #gpu: Gpu;
  #destroyed = false;

  private constructor(gpu: Gpu, options: TensorOptions, chunks: TensorChunk[]) {
    this.#gpu = gpu;
    this.shape = options.shape;
    this.dtype = options.dtype;
    this.label = options.label;
    this.category = options.category;
    this.chunks = chunks;
  }

  /** Allocates a zero-filled tensor, split into chunks when it exceeds the binding limit. */
  static create(gpu: Gpu, options: TensorOptions): GpuTensor {
    const { shape, dtype, label } = options;
    if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new RangeError(`Invalid shape [${shape}] for tensor ${label}`);
    }
    const rows = shape[0];
    const rowBytes = shapeSize(shape.slice(1)) * gpuDTypeBytes(dtype);
    const totalBytes = rows * rowBytes;
    let rowsPerChunk = rows;
    if (totalBytes > gpu.maxBindingBytes) {
      if (shape.length < 2 || rowBytes % 4 !== 0 || rowBytes > gpu.maxBindingBytes) {
        throw new RangeError(
          `Tensor ${label} [${shape}] ${dtype} (${totalBytes} bytes) exceeds the binding limit ` +
            `of ${gpu.maxBindingBytes} bytes and cannot be split by rows`,
        );
      }
      rowsPerChunk = Math.floor(gpu.maxBindingBytes / rowBytes);
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST |
      (options.usage ?? 0);
    const chunks: TensorChunk[] = [];
    for (let rowStart = 0; rowStart < rows || chunks.length === 0; rowStart += rowsPerChunk) {
      const chunkRows = Math.min(rowsPerChunk, rows - rowStart);
      const size = Math.max(4, Math.ceil((chunkRows * rowBytes) / 4) * 4);
      const buffer = gpu.device.createBuffer({
        label: chunks.length ? `${label}#${chunks.length}` : label,
        size,
        usage,
      });
      gpu.memory.allocate(options.category, size);
      chunks.push({ buffer, rowStart, rows: chunkRows });
      if (rows === 0) break;
    }
    return new GpuTensor(gpu, options, chunks);
  }

  /** Number of elements. */
  get numel(): number {
    return shapeSize(this.shape);
  }

  /** Elements per row (product of all but the first dimension). */
  get rowElements(): number {
    return shapeSize(this.shape.slice(1));
  }

  /** Total bytes allocated across chunks. */
  get byteSize(): number {
    return this.chunks.reduce((sum, c) => sum + c.buffer.size, 0);
  }

  /** The single buffer of an unchunked tensor. */
  get buffer(): GPUBuffer {
    if (this.chunks.length !== 1) {
      throw new Error(`Tensor ${this.label} is split into ${this.chunks.length} chunks`);
    }
    return this.chunks[0].buffer;
  }

  /**
   * Uploads raw element bytes (in this tensor's dtype, row-major) into the chunks. Memory
   * staged by `writeBuffer` is released at the next queue submit.
   */
  write(bytes: Uint8Array): void {
    const rowBytes = this.rowElements * gpuDTypeBytes(this.dtype);
    const expected = this.shape[0] * rowBytes;
    if (bytes.byteLength !== expected) {
      throw new RangeError(
        `Tensor ${this.label} [${this.shape}] ${this.dtype} needs ${expected} bytes, got ${bytes.byteLength}`,
      );
    }
    for (const chunk of this.chunks) {
      const part = bytes.subarray(
        chunk.rowStart * rowBytes,
        (chunk.rowStart + chunk.rows) * rowBytes,
      );
      const padded = part.byteLength % 4 === 0 ? part : padTo4(part);
      this.#gpu.device.queue.writeBuffer(chunk.buffer, 0, padded as Uint8Array<ArrayBuffer>);
    }
  }

  /** Frees the buffers. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const chunk of this.chunks) {
      this.#gpu.memory.free(this.category, chunk.buffer.size);
      chunk.buffer.destroy();
    }
  }
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}
