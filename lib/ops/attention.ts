/**
 * Causal grouped-query attention, forward (`kernels/attention.wgsl`), in one pass or, for
 * decode over a long context, split across chunks of keys (flash-decoding) and combined by
 * `kernels/attention_combine.wgsl`.
 * Dimensions: B sequences, T queries, S key slots per sequence, H heads, KV kv heads, HD,
 * G = H / KV heads per kv head, NC chunks of keys.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { dtypeCode } from "./dtype_code.ts";
import type { KvCacheDtype } from "./rope.ts";

/** Query rows (token, head of a kv head's group) per workgroup: ROWS in the kernel. */
const ROWS = 8;
/** Keys per tile: BK in the kernel; a chunk of the split path is a multiple of it. */
const BK = 16;
/** Fewest keys in a chunk of the split path, so that a chunk is several tiles. */
const MIN_CHUNK = 64;
/** Workgroups the split path aims for: enough to fill the compute units of a GPU. */
const TARGET_WORKGROUPS = 256;
/** Floats of a partial record: acc (HD), m, l. */
const recordFloats = (headDim: number) => headDim + 2;

/** Arguments of {@linkcode recordAttention}. */
export interface AttentionArgs {
  /** Queries (B, T, H, HD), already rotated. */
  q: GPUBuffer;
  /** Keys (B, S, KV, HD), already rotated. */
  k: GPUBuffer;
  /** Values (B, S, KV, HD). */
  v: GPUBuffer;
  /** Output (B, T, H, HD). */
  out: GPUBuffer;
  /** Log-sum-exp per row (B, H, T), kept for backward. */
  lse: GPUBuffer;
  /** Sequences. */
  batch: number;
  /** Queries per sequence. */
  T: number;
  /** Key slots per sequence in k and v. */
  S: number;
  /** Heads. */
  heads: number;
  /** KV heads. */
  kvHeads: number;
  /** Head dimension (at most 128). */
  headDim: number;
  /** Absolute position of query 0; it sees keys 0..positionOffset. */
  positionOffset: number;
  /**
   * Scratch for the split path: f32 partials (B, T, H, NC, HD + 2), its size capping NC. Without
   * it the attention runs in one pass; with it {@linkcode attentionSplit} decides.
   */
  scratch?: GPUBuffer;
  /** Element type of k and v: f32 (default), or f16 two per u32 (a KV cache stored in f16). */
  kvDtype?: KvCacheDtype;
  /**
   * Keys per chunk (a multiple of 16) to split by whenever the scratch holds the chunks, in
   * place of {@linkcode attentionSplit}'s choice (tests and benchmarks).
   */
  splitChunk?: number;
  /**
   * Batched decode: the (slot, position) of each of the `batch` sequences (B, 2), u32, each one
   * query row (T = 1): sequence b reads the keys of cache slot `slot` up to `position` +
   * `positionOffset`. Runs in one pass (no split).
   */
  rowTable?: GPUBuffer;
}

/** Sizes that decide the split: those of {@linkcode AttentionArgs}, and the scratch's bytes. */
export type AttentionSplitDims =
  & Pick<AttentionArgs, "batch" | "T" | "heads" | "kvHeads" | "headDim" | "positionOffset">
  & { scratchBytes: number };

/** How the split path cuts the visible keys. */
export interface AttentionSplit {
  /** Keys per chunk, a multiple of 16. */
  chunk: number;
  /** NC, chunks of the visible keys (at least 2). */
  chunks: number;
}

/**
 * The split of the keys for the split path, or null for one pass. The rule exposes
 * parallelism on GPUs and does not depend on measured timings:
 * - split only when each (kv head, sequence) has one block of ROWS (8) query rows (T·G ≤ 8,
 *   decode), so that one pass would run only KV·B workgroups, each over every visible key;
 * - aim for TARGET_WORKGROUPS (256) workgroups, ⌈256 / (KV·B)⌉ chunks, but no more than the
 *   scratch holds, each of at least MIN_CHUNK (64) keys rounded up to whole tiles of 16;
 * - split when that makes at least 2 chunks, i.e. past 64 visible keys.
 */
export function attentionSplit(dims: AttentionSplitDims): AttentionSplit | null {
  const group = dims.heads / dims.kvHeads;
  if (dims.T * group > ROWS) return null;
  const keys = dims.positionOffset + dims.T;
  const wanted = Math.min(
    Math.ceil(TARGET_WORKGROUPS / (dims.kvHeads * dims.batch)),
    splitCapacity(dims),
  );
  if (wanted < 2) return null;
  const chunk = Math.max(MIN_CHUNK, Math.ceil(keys / wanted / BK) * BK);
  const chunks = Math.ceil(keys / chunk);
  return chunks >= 2 ? { chunk, chunks } : null;
}

/** Chunks whose partials fit the scratch. */
function splitCapacity(dims: AttentionSplitDims): number {
  const perChunk = dims.batch * dims.T * dims.heads * recordFloats(dims.headDim) * 4;
  return Math.floor(dims.scratchBytes / perChunk);
}

/**
 * Shape of a scratch for the split path of one sequence (B = 1) over at most `maxContext`
 * keys: (T, H, NC, HD + 2) with T = max(1, 8 / G) queries, every T {@linkcode attentionSplit}
 * splits, and NC the most chunks it cuts.
 */
export function attentionScratchShape(
  dims: { heads: number; kvHeads: number; headDim: number; maxContext: number },
): number[] {
  const T = Math.max(1, Math.floor(ROWS / (dims.heads / dims.kvHeads)));
  const chunks = Math.min(
    Math.ceil(TARGET_WORKGROUPS / dims.kvHeads),
    Math.ceil(dims.maxContext / MIN_CHUNK),
  );
  return [T, dims.heads, chunks, recordFloats(dims.headDim)];
}

/**
 * o = softmax(q·kᵀ/√HD, causal) · v, per head, with kv head h / (H/KV). One workgroup serves
 * ROWS (8) query rows of one kv head: its group of H/KV heads over consecutive tokens. With a
 * scratch, decode over a long context is split (see {@linkcode attentionSplit}): one workgroup
 * per row block and chunk of keys writes partials, and a second dispatch combines them. Given a
 * scratch, `CommandRecorder.prepare` builds the pipelines of both paths whichever is recorded.
 */
export function recordAttention(rec: CommandRecorder, args: AttentionArgs): void {
  checkAttentionHeads(args);
  if (args.rowTable && args.T !== 1) {
    throw new RangeError(`Attention with a row table takes one query per sequence, got ${args.T}`);
  }
  if (args.positionOffset + args.T > args.S) {
    throw new RangeError(
      `Attention over ${args.positionOffset + args.T} keys exceeds ${args.S} slots`,
    );
  }
  const scratch = args.rowTable ? undefined : args.scratch;
  const split = scratch ? splitOf(args, scratch) : null;
  const kv = { KV_DTYPE: dtypeCode(args.kvDtype ?? "f32"), ROW_TABLE: args.rowTable ? 1 : 0 };
  const table = args.rowTable ?? args.q; // read only without ROW_TABLE
  const blocks = Math.ceil((args.T * args.heads / args.kvHeads) / ROWS);
  const params = (s: AttentionSplit | null) =>
    new ParamWriter()
      .u32(args.T).u32(args.heads).u32(args.kvHeads).u32(args.headDim)
      .u32(args.positionOffset).u32(args.S)
      .f32(1 / Math.sqrt(args.headDim))
      .u32(s?.chunk ?? 0).u32(s?.chunks ?? 1)
      .bytes();
  if (!scratch || !split) {
    rec.dispatch({
      kernel: "attention",
      constants: kv,
      params: params(null),
      buffers: [args.q, args.k, args.v, args.out, args.lse, table],
      workgroups: [blocks, args.kvHeads, args.batch],
      alsoPrepare: scratch
        ? [{ kernel: "attention", constants: { ...kv, SPLIT: 1 } }, { kernel: "attention_combine" }]
        : undefined,
    });
    return;
  }
  rec.dispatch({
    kernel: "attention",
    constants: { ...kv, SPLIT: 1 },
    params: params(split),
    buffers: [args.q, args.k, args.v, scratch, args.lse, table],
    workgroups: [blocks * split.chunks, args.kvHeads, args.batch],
    alsoPrepare: [{ kernel: "attention", constants: kv }, { kernel: "attention_combine" }],
  });
  rec.dispatch({
    kernel: "attention_combine",
    params: new ParamWriter().u32(args.T).u32(args.heads).u32(args.headDim).u32(split.chunks)
      .bytes(),
    buffers: [scratch, args.out, args.lse],
    workgroups: [args.batch * args.T * args.heads],
  });
}

/**
 * Throws unless the attention kernels (forward and backward) support these heads: HD ≤ 128 and
 * kv heads dividing heads.
 */
export function checkAttentionHeads(
  { heads, kvHeads, headDim }: { heads: number; kvHeads: number; headDim: number },
): void {
  if (headDim > 128) throw new RangeError(`Head dim ${headDim} exceeds 128`);
  if (heads % kvHeads !== 0) {
    throw new RangeError(`Heads ${heads} are not a multiple of kv heads ${kvHeads}`);
  }
}

/** The split of a call with a scratch: the forced chunk, or the rule's. */
function splitOf(args: AttentionArgs, scratch: GPUBuffer): AttentionSplit | null {
  const dims = { ...args, scratchBytes: scratch.size };
  if (args.splitChunk === undefined) return attentionSplit(dims);
  const chunk = args.splitChunk;
  if (!Number.isInteger(chunk) || chunk <= 0 || chunk % BK !== 0) {
    throw new RangeError(`Split chunk ${chunk} is not a positive multiple of ${BK} keys`);
  }
  const chunks = Math.ceil((args.positionOffset + args.T) / chunk);
  if (chunks > splitCapacity(dims)) {
    throw new RangeError(
      `Scratch of ${scratch.size} bytes holds fewer than the ${chunks} chunks of ${chunk} keys`,
    );
  }
  return { chunk, chunks };
}
