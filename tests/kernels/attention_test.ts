// Tests of kernels/attention.wgsl through recordAttention.
// Dimensions: B sequences, T queries, S key slots, H heads, KV kv heads, HD head dim.
import { assertClose } from "../_assert_close.ts";
import assert from "node:assert/strict";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import { recordAttention } from "../../lib/ops/attention.ts";
import { attentionForward } from "../../lib/reference/attention.ts";
import { Rng } from "../../lib/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

interface Case {
  name: string;
  B: number;
  T: number;
  S: number;
  H: number;
  KV: number;
  HD: number;
  offset: number;
}

const CASES: Case[] = [
  { name: "prefill, GQA, batch 2", B: 2, T: 13, S: 13, H: 4, KV: 2, HD: 16, offset: 0 },
  { name: "decode past one key tile, HD > 64", B: 2, T: 3, S: 75, H: 6, KV: 2, HD: 72, offset: 67 },
  { name: "one query at position 0, no GQA", B: 1, T: 1, S: 4, H: 2, KV: 2, HD: 8, offset: 0 },
  // Blocks of 8 rows (token, head of the group): 28 rows end in a half block; 8 column vec4s
  // per lane set.
  { name: "prefill, 4 heads a group, half a last block, HD 128", ...at(2, 7, 7, 8, 2, 128, 0) },
  // A block spans 8 tokens, so some of its rows see none of the keys of its last tile.
  { name: "chunk at an offset, no GQA, 4 key tiles", ...at(1, 21, 60, 2, 2, 16, 35) },
  // HD 10 pads its last vec4; a block is one token's 8 heads.
  { name: "HD not a multiple of 4, 8 heads a group", ...at(2, 5, 40, 8, 1, 10, 30) },
  { name: "decode after 257 keys, 4 heads a group, HD 64", ...at(2, 1, 300, 8, 2, 64, 257) },
];

/** A case's dimensions in the order of its name: B, T, S, H, KV, HD, offset. */
function at(B: number, T: number, S: number, H: number, KV: number, HD: number, offset: number) {
  return { B, T, S, H, KV, HD, offset };
}

/** log Σ_j exp(q·k_j/√HD) over the visible keys, per (head, query) of one sequence: (H, T). */
function referenceLse(q: Float32Array, k: Float32Array, c: Case): Float64Array {
  const out = new Float64Array(c.H * c.T); // (H, T)
  for (let h = 0; h < c.H; h++) {
    const kvh = Math.floor(h / (c.H / c.KV));
    for (let t = 0; t < c.T; t++) {
      const scores = [];
      for (let j = 0; j <= c.offset + t; j++) {
        let s = 0;
        for (let d = 0; d < c.HD; d++) {
          s += q[(t * c.H + h) * c.HD + d] * k[(j * c.KV + kvh) * c.HD + d];
        }
        scores.push(s / Math.sqrt(c.HD));
      }
      const max = Math.max(...scores);
      out[h * c.T + t] = max + Math.log(scores.reduce((a, s) => a + Math.exp(s - max), 0));
    }
  }
  return out;
}

for (const c of CASES) {
  gpuTest(`attention matches the reference: ${c.name}`, async (gpu) => {
    const rng = new Rng(40 + c.T);
    const qRow = c.H * c.HD, kvRow = c.KV * c.HD;
    const q = randomF32(rng, c.B * c.T * qRow); // (B, T, H, HD)
    const k = randomF32(rng, c.B * c.S * kvRow); // (B, S, KV, HD); slots past offset + T unread
    const v = randomF32(rng, c.B * c.S * kvRow); // (B, S, KV, HD)
    const out = emptyF32(gpu, c.B * c.T * qRow), lse = emptyF32(gpu, c.B * c.H * c.T);
    await runRecorded(gpu, "attention", (rec) =>
      recordAttention(rec, {
        q: upload(gpu, q),
        k: upload(gpu, k),
        v: upload(gpu, v),
        out,
        lse,
        batch: c.B,
        T: c.T,
        S: c.S,
        heads: c.H,
        kvHeads: c.KV,
        headDim: c.HD,
        positionOffset: c.offset,
      }));
    const gotOut = await readF32(gpu, out, c.B * c.T * qRow);
    const gotLse = await readF32(gpu, lse, c.B * c.H * c.T);
    const keys = (c.offset + c.T) * kvRow;
    for (let b = 0; b < c.B; b++) {
      const qb = q.subarray(b * c.T * qRow, (b + 1) * c.T * qRow); // (T, H·HD)
      const kb = k.subarray(b * c.S * kvRow, b * c.S * kvRow + keys); // (offset + T, KV·HD)
      const vb = v.subarray(b * c.S * kvRow, b * c.S * kvRow + keys); // (offset + T, KV·HD)
      const dims = { t: c.T, h: c.H, kv: c.KV, hd: c.HD, offset: c.offset };
      assertClose(
        gotOut.subarray(b * c.T * qRow, (b + 1) * c.T * qRow),
        attentionForward(qb, kb, vb, dims).out,
        {
          atol: 1e-5,
          rtol: 1e-4,
          label: `out of sequence ${b}`,
        },
      );
      assertClose(gotLse.subarray(b * c.H * c.T, (b + 1) * c.H * c.T), referenceLse(qb, kb, c), {
        atol: 1e-5,
        rtol: 1e-5,
        label: `lse of sequence ${b}`,
      });
    }
  });
}

gpuTest("attention rejects heads that kv heads do not divide, and keys past S", (gpu) => {
  const buf = emptyF32(gpu, 64);
  const args = { q: buf, k: buf, v: buf, out: buf, lse: buf, batch: 1, T: 2, S: 4 };
  const shape = { heads: 6, kvHeads: 4, headDim: 8, positionOffset: 0 };
  const rec = new CommandRecorder(gpu);
  assert.throws(() => recordAttention(rec, { ...args, ...shape }), /Heads 6 .* kv heads 4/);
  assert.throws(
    () => recordAttention(rec, { ...args, ...shape, kvHeads: 2, positionOffset: 3 }),
    /Attention over 5 keys exceeds 4 slots/,
  );
  assert.throws(() => recordAttention(rec, { ...args, ...shape, headDim: 132 }), /Head dim 132/);
  rec.dispose();
});
