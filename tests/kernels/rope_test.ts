// Tests of kernels/rope.wgsl through recordRope: queries and keys rotated in one dispatch.
// Dimensions: B sequences, T tokens, QH query heads and KH key heads per row, HD head dim,
// P table positions.
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { gpuTest, readF32, upload } from "../_gpu.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { type KvCacheDtype, recordRope, recordRopeKvAppend } from "../../lib/ops/rope.ts";
import { f16BitsToF32 } from "../../lib/format/dtype.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import { ropeBackward, ropeForward } from "../../lib/reference/rope.ts";
import { Rng } from "../../lib/util/rng.ts";
import { ropeTables } from "../../lib/model/rope_frequencies.ts";
import { randomF32, runRecorded, storeAs } from "./_kernels.ts";

const [B, T, QH, KH, HD, offset] = [2, 5, 3, 2, 18, 4];
const { cos, sin } = ropeTables({ headDim: HD, ropeTheta: 10000, ropeScaling: null }, 16); // (P, HD/2)

/**
 * Applies the reference rotation to each of the B sequences of `heads` heads stored after
 * `rowOffset` rows.
 */
function reference(
  x: Float32Array,
  heads: number,
  rowOffset: number,
  inverse: boolean,
): Float32Array {
  const out = x.slice(), row = heads * HD;
  for (let b = 0; b < B; b++) {
    const seq = out.subarray((rowOffset + b * T) * row, (rowOffset + (b + 1) * T) * row); // (T, heads, HD)
    (inverse ? ropeBackward : ropeForward)(seq, cos, sin, T, heads, HD, offset);
  }
  return out;
}

/** The arguments of a rope over q and k of the B·T rows, with the tables on `gpu`. */
function ropeArgs(gpu: Gpu, q: GPUBuffer, k: GPUBuffer) {
  const tables = { cos: upload(gpu, cos), sin: upload(gpu, sin) };
  return {
    q,
    k,
    ...tables,
    rows: B * T,
    T,
    qHeads: QH,
    kHeads: KH,
    headDim: HD,
    positionOffset: offset,
  };
}

for (const inverse of [false, true]) {
  gpuTest(
    `rope ${inverse ? "inverse" : "forward"} matches the reference on q and k at their row offsets`,
    async (gpu) => {
      const rng = new Rng(inverse ? 31 : 30);
      const [qRowOffset, kRowOffset] = [1, 3];
      const q0 = randomF32(rng, (qRowOffset + B * T + 1) * QH * HD); // (1 + B·T + 1, QH, HD)
      const k0 = randomF32(rng, (kRowOffset + B * T + 2) * KH * HD); // (3 + B·T + 2, KH, HD)
      const [q, k] = [upload(gpu, q0), upload(gpu, k0)];
      await runRecorded(
        gpu,
        "rope",
        (rec) => recordRope(rec, { ...ropeArgs(gpu, q, k), qRowOffset, kRowOffset, inverse }),
      );
      const label = inverse ? "inverse rope" : "rope";
      assertClose(await readF32(gpu, q, q0.length), reference(q0, QH, qRowOffset, inverse), {
        atol: 1e-6,
        rtol: 1e-5,
        label: `${label}: q`,
      });
      assertClose(await readF32(gpu, k, k0.length), reference(k0, KH, kRowOffset, inverse), {
        atol: 1e-6,
        rtol: 1e-5,
        label: `${label}: k, and the rows around it untouched`,
      });
    },
  );
}

gpuTest("rope followed by its inverse gives back q and k", async (gpu) => {
  const rng = new Rng(32);
  const q0 = randomF32(rng, B * T * QH * HD); // (B·T, QH, HD)
  const k0 = randomF32(rng, B * T * KH * HD); // (B·T, KH, HD)
  const [q, k] = [upload(gpu, q0), upload(gpu, k0)];
  const args = ropeArgs(gpu, q, k);
  await runRecorded(gpu, "rope round trip", (rec) => {
    recordRope(rec, args);
    recordRope(rec, { ...args, inverse: true });
  });
  assertClose(await readF32(gpu, q, q0.length), q0, { atol: 1e-6, rtol: 1e-5, label: "q" });
  assertClose(await readF32(gpu, k, k0.length), k0, { atol: 1e-6, rtol: 1e-5, label: "k" });
});

gpuTest("rope refuses one buffer as both queries and keys", (gpu) => {
  const x = upload(gpu, new Float32Array(HD));
  const rec = new CommandRecorder(gpu);
  const tables = { cos: x, sin: x, rows: 1, T: 1, qHeads: 1, kHeads: 0, headDim: HD };
  assert.throws(
    () => recordRope(rec, { ...tables, q: x, k: x, positionOffset: 0 }),
    /Queries and keys must be different buffers/,
  );
  rec.dispose();
});

/** The values of a cache read back as f32 words: decoded from f16 pairs when `dtype` is f16. */
function decodeCache(words: Float32Array, dtype: KvCacheDtype): Float32Array {
  if (dtype === "f32") return words;
  return f16BitsToF32(new Uint16Array(words.buffer, words.byteOffset, words.length * 2));
}

// The append: rows of T new tokens go to cache rows offset.., in the cache's element type. HD 18
// has an odd number of pairs per half (the f32 path's last invocation rotates one pair); an f16
// cache needs HD a multiple of 4.
for (const [cacheDtype, hd] of [["f32", 18], ["f16", 16]] as const) {
  gpuTest(
    `rope and the KV append into an ${cacheDtype} cache match the reference, HD ${hd}`,
    async (gpu) => {
      const rng = new Rng(hd);
      const [Tn, S] = [T, offset + T + 3]; // new tokens, cache slots
      const tables = ropeTables({ headDim: hd, ropeTheta: 10000, ropeScaling: null }, S);
      const q0 = randomF32(rng, Tn * QH * hd); // (T, QH, HD)
      const kNew = randomF32(rng, Tn * KH * hd); // (T, KVH, HD)
      const vNew = randomF32(rng, Tn * KH * hd); // (T, KVH, HD)
      const words = (S * KH * hd) / (cacheDtype === "f16" ? 2 : 1);
      const sentinel = new Uint32Array(words).map((_, i) => 0x3c00_3c00 + i); // (S, KVH, HD) packed
      const [q, kCache, vCache] = [upload(gpu, q0), upload(gpu, sentinel), upload(gpu, sentinel)];
      await runRecorded(gpu, "rope + kv append", (rec) =>
        recordRopeKvAppend(rec, {
          q,
          kNew: upload(gpu, kNew),
          vNew: upload(gpu, vNew),
          kCache,
          vCache,
          cacheDtype,
          cos: upload(gpu, tables.cos),
          sin: upload(gpu, tables.sin),
          T: Tn,
          qHeads: QH,
          kvHeads: KH,
          headDim: hd,
          positionOffset: offset,
        }));
      const rotate = (x: Float32Array, heads: number) => {
        const out = x.slice();
        ropeForward(out, tables.cos, tables.sin, Tn, heads, hd, offset);
        return out;
      };
      assertClose(await readF32(gpu, q, q0.length), rotate(q0, QH), {
        atol: 1e-6,
        rtol: 1e-5,
        label: "q rotated in place",
      });
      const row = (KH * hd) / (cacheDtype === "f16" ? 2 : 1); // words per cache row
      const [first, end] = [offset * row, (offset + Tn) * row];
      for (
        const [name, cache, want] of [["k", kCache, rotate(kNew, KH)], ["v", vCache, vNew]] as const
      ) {
        const got = await readF32(gpu, cache, words); // the words, as f32 bits
        const bits = new Uint32Array(got.buffer);
        assert.deepEqual(bits.slice(0, first), sentinel.slice(0, first), `${name}: rows before`);
        assert.deepEqual(bits.slice(end), sentinel.slice(end), `${name}: rows after`);
        assertClose(
          decodeCache(got.subarray(first, end), cacheDtype),
          storeAs(want, cacheDtype).rounded,
          {
            atol: 1e-6,
            rtol: cacheDtype === "f16" ? 1e-3 : 1e-5, // f16 rounding may differ by one unit
            label: `${name} appended at rows ${offset}..${offset + Tn - 1}`,
          },
        );
      }
    },
  );
}

gpuTest("an f16 KV cache refuses a head dim that is not a multiple of 4", (gpu) => {
  const x = upload(gpu, new Float32Array(64));
  const rec = new CommandRecorder(gpu);
  const args = { q: x, kNew: x, vNew: x, kCache: x, vCache: x, cos: x, sin: x };
  const dims = { T: 1, qHeads: 1, kvHeads: 1, headDim: 18, positionOffset: 0 };
  assert.throws(
    () => recordRopeKvAppend(rec, { ...args, ...dims, cacheDtype: "f16" }),
    /An f16 KV cache needs a head dim that is a multiple of 4, got 18/,
  );
  rec.dispose();
});
