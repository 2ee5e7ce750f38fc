/**
 * Builds the bytes of a kernel's uniform `Params` struct, field by field, in WGSL order.
 * Every field is 4 bytes (u32, i32 or f32), so the layout has no padding surprises.
 *
 * @module
 */

/** Writes u32 / i32 / f32 fields of a uniform struct in declaration order. */
export class ParamWriter {
  readonly #view = new DataView(new ArrayBuffer(256));
  #offset = 0;

  /** Appends an unsigned 32-bit field. */
  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`Uniform u32 field out of range: ${value}`);
    }
    this.#view.setUint32(this.#advance(), value, true);
    return this;
  }

  /** Appends a signed 32-bit field. */
  i32(value: number): this {
    this.#view.setInt32(this.#advance(), value, true);
    return this;
  }

  /** Appends a 32-bit float field. */
  f32(value: number): this {
    this.#view.setFloat32(this.#advance(), value, true);
    return this;
  }

  /** The struct bytes, padded to a multiple of 16 as uniform buffers require. */
  bytes(): Uint8Array {
    const size = Math.max(16, Math.ceil(this.#offset / 16) * 16);
    return new Uint8Array(this.#view.buffer, 0, size);
  }

  #advance(): number {
    const at = this.#offset;
    if (at + 4 > this.#view.byteLength) throw new RangeError("Uniform struct exceeds 256 bytes");
    this.#offset += 4;
    return at;
  }
}
