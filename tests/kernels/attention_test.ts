// Tests of kernels/attention.wgsl through recordAttention.
// Dimensions: B sequences, T queries, S key slots, H heads, KV kv heads, HD head dim.
import { assertClose } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
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
];

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
