/**
 * A small seeded pseudo-random number generator: xoshiro128** (Blackman & Vigna, 2018), with
 * four 32-bit words of state seeded through the splitmix32 finalizer. The state is a plain
 * `number[]` so that checkpoints can save it and resume the exact stream.
 *
 * @module
 */

const TWO_POW_32 = 4294967296;

/** The splitmix32 / murmur3 finalizer: a bijection on 32-bit words. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Rotates a 32-bit word left by `k` bits. */
function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A seeded xoshiro128** generator. Different seeds give different streams; the same seed
 * always gives the same stream on every platform.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * const saved = rng.state();
 * const a = rng.nextFloat();
 * const b = Rng.fromState(saved).nextFloat(); // a === b
 * ```
 */
export class Rng {
  #s: Uint32Array; // (4) xoshiro128 state words

  /**
   * Seeds a generator. `seed` is any safe integer (negative values are taken modulo 2^64);
   * its low and high 32-bit halves each go through a bijective mix, so distinct seeds never
   * share a state.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Rng seed must be a safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.#s = new Uint32Array([
      mix32(lo + 0x9e3779b9),
      mix32(lo + 0x3c6ef372),
      mix32(hi ^ 0xdaa66d2b),
      mix32(hi ^ 0x78dde6e4),
    ]);
  }

  /** Returns the next raw 32-bit unsigned integer, in [0, 2^32). */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Returns a uniform float in [0, 1) with 32 bits of resolution. */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Returns a uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.nextFloat();
  }

  /** Returns a standard normal sample (mean 0, std 1) by the Box–Muller transform. */
  normal(): number {
    const u1 = 1 - this.nextFloat(); // (0, 1], so the log is finite
    const u2 = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out` with normal samples of mean 0 and standard deviation `std`. */
  fillNormal(out: Float32Array, std: number): void {
    for (let i = 0; i < out.length; i++) out[i] = std * this.normal();
  }

  /** Fills `out` with uniform samples in [lo, hi) (float32 rounding may reach `hi`). */
  fillUniform(out: Float32Array, lo: number, hi: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
  }

  /** The indices 0..n-1 in a uniformly random order (Fisher–Yates). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i); // (N)
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.nextFloat() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /** Returns a copy of the four 32-bit state words, for {@linkcode Rng.fromState}. */
  state(): number[] {
    return Array.from(this.#s);
  }

  /** Rebuilds a generator from {@linkcode Rng.state}; it continues the saved stream exactly. */
  static fromState(state: number[]): Rng {
    if (
      !Array.isArray(state) || state.length !== 4 ||
      !state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)
    ) {
      throw new RangeError(
        `Rng state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`,
      );
    }
    if (state.every((w) => w === 0)) {
      throw new RangeError(`Rng state must not be all zeros, got ${JSON.stringify(state)}`);
    }
    const rng = new Rng(0);
    rng.#s.set(state);
    return rng;
  }
}
