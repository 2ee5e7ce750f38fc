// Tests of kernels/attention_backward_{dq,dkv}.wgsl through recordAttentionBackward, fed by
// the forward kernel's output and log-sum-exp as in training.
// Dimensions: B sequences, T tokens, H heads, KV kv heads, HD head dim.
import { assertClose, maxAbs } from "../_assert_close.ts";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import { recordAttention } from "../../lib/ops/attention.ts";
import { recordAttentionBackward } from "../../lib/ops/attention_backward.ts";
import { attentionBackward, attentionForward } from "../../lib/reference/attention.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded } from "./_kernels.ts";

const CASES = [
  { name: "GQA, batch 2", B: 2, T: 13, H: 4, KV: 2, HD: 16 },
  {
    name: "more than one 64-token tile, HD > 64, 3 heads per kv head",
    B: 1,
    T: 70,
    H: 3,
    KV: 1,
    HD: 72,
  },
  { name: "no GQA, batch 2", B: 2, T: 5, H: 3, KV: 3, HD: 8 },
];

for (const c of CASES) {
  gpuTest(`attention backward matches the reference: ${c.name}`, async (gpu) => {
    const rng = new Rng(70 + c.T);
    const qRow = c.H * c.HD, kvRow = c.KV * c.HD;
    const q = randomF32(rng, c.B * c.T * qRow); // (B, T, H, HD)
    const k = randomF32(rng, c.B * c.T * kvRow); // (B, T, KV, HD)
    const v = randomF32(rng, c.B * c.T * kvRow); // (B, T, KV, HD)
    const dOut = randomF32(rng, c.B * c.T * qRow); // (B, T, H, HD)
    const bufs = { q: upload(gpu, q), k: upload(gpu, k), v: upload(gpu, v) };
    const out = emptyF32(gpu, c.B * c.T * qRow), lse = emptyF32(gpu, c.B * c.H * c.T);
    const dq = emptyF32(gpu, c.B * c.T * qRow);
    const dk = emptyF32(gpu, c.B * c.T * kvRow), dv = emptyF32(gpu, c.B * c.T * kvRow);
    const shape = { batch: c.B, T: c.T, heads: c.H, kvHeads: c.KV, headDim: c.HD };
    await runRecorded(gpu, "attention backward", (rec) => {
      recordAttention(rec, { ...bufs, ...shape, out, lse, S: c.T, positionOffset: 0 });
      recordAttentionBackward(rec, {
        ...bufs,
        ...shape,
        out,
        lse,
        dOut: upload(gpu, dOut),
        dq,
        dk,
        dv,
        delta: emptyF32(gpu, c.B * c.H * c.T),
      });
    });
    const got = {
      dq: await readF32(gpu, dq, c.B * c.T * qRow),
      dk: await readF32(gpu, dk, c.B * c.T * kvRow),
      dv: await readF32(gpu, dv, c.B * c.T * kvRow),
    };
    const dims = { t: c.T, h: c.H, kv: c.KV, hd: c.HD, offset: 0 };
    for (let b = 0; b < c.B; b++) {
      const seq = (x: Float32Array, row: number) => x.subarray(b * c.T * row, (b + 1) * c.T * row);
      const { probs } = attentionForward(seq(q, qRow), seq(k, kvRow), seq(v, kvRow), dims);
      const ref = attentionBackward(
        seq(dOut, qRow),
        seq(q, qRow),
        seq(k, kvRow),
        seq(v, kvRow),
        probs,
        dims,
      );
      for (const [name, row] of [["dq", qRow], ["dk", kvRow], ["dv", kvRow]] as const) {
        assertClose(seq(got[name], row), ref[name], {
          atol: 1e-5 * Math.max(1, maxAbs(ref[name])),
          rtol: 1e-4,
          label: `${name} of sequence ${b}`,
        });
      }
    }
  });
}
