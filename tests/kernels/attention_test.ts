// Tests of kernels/attention.wgsl through recordAttention.
// Dimensions: B sequences, T queries, S key slots, H heads, KV kv heads, HD head dim.
import { assertClose } from "../_assert_close.ts";
import assert from "node:assert/strict";
import { emptyF32, gpuTest, readF32, upload } from "../_gpu.ts";
import type { Gpu } from "../../lib/gpu/device.ts";
import { CommandRecorder } from "../../lib/gpu/recorder.ts";
import {
  attentionScratchShape,
  attentionSplit,
  type AttentionSplitDims,
  recordAttention,
} from "../../lib/ops/attention.ts";
import { attentionForward } from "../../lib/reference/attention.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomF32, runRecorded, storeAs } from "./_kernels.ts";
import type { KvCacheDtype } from "../../lib/ops/rope.ts";

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

/** How a case runs: in one pass, split by a forced chunk, or with a scratch and the rule. */
type Path = { split: "none" } | { split: "chunk"; chunk: number } | { split: "rule" };

/**
 * Random q, k, v of a case: (B, T, H, HD), (B, S, KV, HD), (B, S, KV, HD); k and v hold values
 * an f16 cache can store exactly when `kvDtype` is f16.
 */
function inputsOf(c: Case, kvDtype: KvCacheDtype = "f32") {
  const rng = new Rng(40 + c.T);
  const kv = () => storeAs(randomF32(rng, c.B * c.S * c.KV * c.HD), kvDtype).rounded;
  return {
    q: randomF32(rng, c.B * c.T * c.H * c.HD), // (B, T, H, HD)
    k: kv(), // (B, S, KV, HD); slots past offset + T unread
    v: kv(), // (B, S, KV, HD)
  };
}

/** A scratch (B, T, H, NC, HD + 2) of `chunks` chunks. */
function scratchOf(gpu: Gpu, c: Case, chunks: number): GPUBuffer {
  return emptyF32(gpu, c.B * c.T * c.H * chunks * (c.HD + 2));
}

/** The output (B, T, H, HD) and lse (B, H, T) of a case's attention on the GPU. */
async function runAttention(
  gpu: Gpu,
  c: Case,
  inputs: { q: Float32Array; k: Float32Array; v: Float32Array },
  path: Path,
  kvDtype: KvCacheDtype = "f32",
): Promise<{ out: Float32Array; lse: Float32Array }> {
  const out = emptyF32(gpu, c.B * c.T * c.H * c.HD), lse = emptyF32(gpu, c.B * c.H * c.T);
  const keys = c.offset + c.T;
  const split = path.split === "none"
    ? {}
    : path.split === "chunk"
    ? { scratch: scratchOf(gpu, c, Math.ceil(keys / path.chunk)), splitChunk: path.chunk }
    : { scratch: scratchOf(gpu, c, Math.ceil(keys / 64)) };
  await runRecorded(gpu, "attention", (rec) =>
    recordAttention(rec, {
      q: upload(gpu, inputs.q),
      k: upload(gpu, storeAs(inputs.k, kvDtype).bytes),
      v: upload(gpu, storeAs(inputs.v, kvDtype).bytes),
      kvDtype,
      out,
      lse,
      batch: c.B,
      T: c.T,
      S: c.S,
      heads: c.H,
      kvHeads: c.KV,
      headDim: c.HD,
      positionOffset: c.offset,
      ...split,
    }));
  return {
    out: await readF32(gpu, out, c.B * c.T * c.H * c.HD),
    lse: await readF32(gpu, lse, c.B * c.H * c.T),
  };
}

/**
 * Runs a case on `path`, with k and v stored as `kvDtype`, and checks its output and lse against
 * the reference on the values stored.
 */
async function checkAgainstReference(
  gpu: Gpu,
  c: Case,
  path: Path,
  kvDtype: KvCacheDtype = "f32",
): Promise<void> {
  const inputs = inputsOf(c, kvDtype);
  const { q, k, v } = inputs;
  const got = await runAttention(gpu, c, inputs, path, kvDtype);
  const qRow = c.H * c.HD, kvRow = c.KV * c.HD;
  const keys = (c.offset + c.T) * kvRow;
  for (let b = 0; b < c.B; b++) {
    const qb = q.subarray(b * c.T * qRow, (b + 1) * c.T * qRow); // (T, H·HD)
    const kb = k.subarray(b * c.S * kvRow, b * c.S * kvRow + keys); // (offset + T, KV·HD)
    const vb = v.subarray(b * c.S * kvRow, b * c.S * kvRow + keys); // (offset + T, KV·HD)
    const dims = { t: c.T, h: c.H, kv: c.KV, hd: c.HD, offset: c.offset };
    assertClose(
      got.out.subarray(b * c.T * qRow, (b + 1) * c.T * qRow),
      attentionForward(qb, kb, vb, dims).out,
      {
        atol: 1e-5,
        rtol: 1e-4,
        label: `out of sequence ${b}`,
      },
    );
    assertClose(got.lse.subarray(b * c.H * c.T, (b + 1) * c.H * c.T), referenceLse(qb, kb, c), {
      atol: 1e-5,
      rtol: 1e-5,
      label: `lse of sequence ${b}`,
    });
  }
}

for (const c of CASES) {
  gpuTest(
    `attention matches the reference: ${c.name}`,
    (gpu) => checkAgainstReference(gpu, c, { split: "none" }),
  );
}

/** Split-path cases: chunks of 64 keys unless the name says otherwise. */
const SPLIT_CASES: (Case & { chunk: number })[] = [
  {
    name: "decode, one key in the last chunk, 2 heads a group",
    ...at(1, 1, 200, 4, 2, 64, 128),
    chunk: 64,
  },
  {
    name: "decode, keys end at a chunk boundary, no GQA",
    ...at(1, 1, 140, 2, 2, 64, 127),
    chunk: 64,
  },
  {
    name: "decode, several chunks, batch 2, 4 heads a group",
    ...at(2, 1, 400, 8, 2, 64, 300),
    chunk: 64,
  },
  { name: "decode, odd HD 9, chunks of 48 keys", ...at(1, 1, 260, 4, 2, 9, 200), chunk: 48 },
  // Row t = 0 sees none of the last chunk's keys (160..161): its partial there is empty.
  {
    name: "two queries, a row without keys in the last chunk",
    ...at(1, 2, 170, 4, 4, 16, 159),
    chunk: 32,
  },
  // 12 rows make two row blocks; block 0 (t = 0, 1) sees no key of chunk 3 (96..).
  { name: "three queries in two row blocks, batch 2", ...at(2, 3, 100, 8, 2, 16, 94), chunk: 32 },
];

for (const c of SPLIT_CASES) {
  gpuTest(
    `split attention matches the reference: ${c.name}`,
    (gpu) => checkAgainstReference(gpu, c, { split: "chunk", chunk: c.chunk }),
  );
}

// Llama-3.2-1B's heads (H 32, KV 8, HD 64) at position 1000: the rule cuts 16 chunks of 64 keys.
const LLAMA_DECODE: Case = { name: "Llama-3.2-1B decode", ...at(1, 1, 1100, 32, 8, 64, 1000) };

gpuTest(
  "split attention by the rule matches the reference: Llama-3.2-1B decode",
  (gpu) => checkAgainstReference(gpu, LLAMA_DECODE, { split: "rule" }),
);

gpuTest("split and one-pass attention agree to rounding: Llama-3.2-1B decode", async (gpu) => {
  const c = LLAMA_DECODE;
  const dims = { batch: c.B, T: c.T, heads: c.H, kvHeads: c.KV, headDim: c.HD };
  const scratchBytes = 16 * c.H * (c.HD + 2) * 4; // the scratch of runAttention's rule path
  assert.deepEqual(attentionSplit({ ...dims, positionOffset: c.offset, scratchBytes }), {
    chunk: 64,
    chunks: 16,
  });
  const inputs = inputsOf(LLAMA_DECODE);
  const split = await runAttention(gpu, LLAMA_DECODE, inputs, { split: "rule" });
  const single = await runAttention(gpu, LLAMA_DECODE, inputs, { split: "none" });
  assertClose(split.out, single.out, { atol: 1e-6, rtol: 1e-5, label: "out" });
  assertClose(split.lse, single.lse, { atol: 1e-6, rtol: 1e-6, label: "lse" });
});

Deno.test("the split rule: decode past 64 keys, few workgroups, chunks the scratch holds", () => {
  const llama = { batch: 1, T: 1, heads: 32, kvHeads: 8, headDim: 64 };
  const shape = attentionScratchShape({ heads: 32, kvHeads: 8, headDim: 64, maxContext: 2048 });
  // T = 8 rows / G 4 = 2 tokens; ⌈256 workgroups / 8 kv heads⌉ = 32 = 2048 / 64 chunks.
  assert.deepEqual(shape, [2, 32, 32, 66]);
  const scratchBytes = shape.reduce((a, n) => a * n, 4);
  const split = (dims: Partial<AttentionSplitDims>) =>
    attentionSplit({ ...llama, positionOffset: 1000, scratchBytes, ...dims });
  // 1001 keys: at most 32 chunks, but at least 64 keys each: 16 chunks, 8 × 16 = 128 workgroups.
  assert.deepEqual(split({}), { chunk: 64, chunks: 16 });
  // 2001 keys: ⌈2001 / 32⌉ = 63 → 64 keys a chunk, 32 chunks, 256 workgroups.
  assert.deepEqual(split({ positionOffset: 2000 }), { chunk: 64, chunks: 32 });
  assert.deepEqual(split({ positionOffset: 126, T: 2 }), { chunk: 64, chunks: 2 });
  assert.equal(split({ positionOffset: 127 - 64 }), null, "64 keys are one chunk");
  assert.equal(split({ T: 3 }), null, "12 rows are two row blocks");
  assert.equal(split({ batch: 32 }), null, "256 workgroups in one pass");
  // A scratch of 8 chunks: ⌈1001 / 8⌉ = 126 → 128 keys a chunk.
  assert.deepEqual(split({ scratchBytes: 8 * 32 * 66 * 4 }), { chunk: 128, chunks: 8 });
  assert.equal(split({ scratchBytes: 32 * 66 * 4 }), null, "a scratch of one chunk");
});

gpuTest(
  "attention rejects heads that kv heads do not divide, keys past S, bad split chunks",
  (gpu) => {
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
    const split = { ...args, ...shape, kvHeads: 2, scratch: buf };
    assert.throws(() => recordAttention(rec, { ...split, splitChunk: 24 }), /Split chunk 24/);
    // 256 bytes hold one chunk of 6 rows × (8 + 2) floats; 17 keys are 2 chunks of 16.
    assert.throws(
      () => recordAttention(rec, { ...split, T: 1, S: 20, positionOffset: 16, splitChunk: 16 }),
      /Scratch of 256 bytes holds fewer than the 2 chunks of 16 keys/,
    );
    rec.dispose();
  },
);

// An f16 KV cache: k and v stored two per u32 word (the reference gets the same rounded values).
gpuTest(
  "attention over an f16 KV cache matches the reference: prefill, GQA, batch 2",
  (gpu) => checkAgainstReference(gpu, CASES[0], { split: "none" }, "f16"),
);
gpuTest(
  "split attention over an f16 KV cache matches the reference: Llama-3.2-1B decode",
  (gpu) => checkAgainstReference(gpu, LLAMA_DECODE, { split: "rule" }, "f16"),
);
