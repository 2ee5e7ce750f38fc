/**
 * Log-probabilities on the GPU (`kernels/logprobs.wgsl`): the log-softmax of a row of logits as
 * the model gives them (vLLM's raw logprobs, before penalties and temperature), reduced to what
 * the host reads back: the logprob of one target id and the top-k logprobs with their ids.
 * Dimensions: V vocab, K top logprobs (≤ {@linkcode MAX_TOP_LOGPROBS}).
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** The most top logprobs a record holds (OpenAI's `top_logprobs` maximum). */
export const MAX_TOP_LOGPROBS = 20;

/** u32 words of one record: the target's logprob, K ids, K logprobs (K = MAX_TOP_LOGPROBS). */
export const LOGPROB_RECORD_WORDS = 1 + 2 * MAX_TOP_LOGPROBS;

/** One token's logprob and the most likely alternatives at its position. */
export interface TokenLogprob {
  /** Log-probability of the token (NaN when the logits were not finite). */
  logprob: number;
  /** The most likely ids and their logprobs, most likely first, lowest id first on ties. */
  top: { id: number; logprob: number }[];
}

/** Arguments of {@linkcode recordLogprobs}. */
export interface LogprobsArgs {
  /** Logits (V) at element offset `logitsOffset`. */
  logits: GPUBuffer;
  /** Element offset of the row. */
  logitsOffset: number;
  /** u32 words: the target id at `targetIndex`, the record (LOGPROB_RECORD_WORDS) at `recordOffset`. */
  tokens: GPUBuffer;
  /** Word of `tokens` holding the target id (an id ≥ V gives a NaN logprob). */
  targetIndex: number;
  /** First word of the record. */
  recordOffset: number;
  /** K, top logprobs wanted, in [0, MAX_TOP_LOGPROBS]. */
  topK: number;
  /** Vocabulary size V. */
  vocabSize: number;
}

/** Records one logprobs dispatch (a single workgroup). */
export function recordLogprobs(rec: CommandRecorder, args: LogprobsArgs): void {
  if (!(Number.isInteger(args.topK) && args.topK >= 0 && args.topK <= MAX_TOP_LOGPROBS)) {
    throw new RangeError(
      `Top logprobs ${args.topK} must be an integer in [0, ${MAX_TOP_LOGPROBS}]`,
    );
  }
  rec.dispatch({
    kernel: "logprobs",
    params: new ParamWriter()
      .u32(args.vocabSize).u32(args.logitsOffset).u32(args.targetIndex).u32(args.recordOffset)
      .u32(args.topK).bytes(),
    buffers: [args.logits, args.tokens],
    workgroups: [1],
  });
}

/** Decodes the record at word `offset` of `words` holding `topK` top logprobs. */
export function decodeLogprobRecord(
  words: Uint32Array,
  offset: number,
  topK: number,
): TokenLogprob {
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  const top = Array.from({ length: topK }, (_, k) => ({
    id: words[offset + 1 + k],
    logprob: floats[offset + 1 + MAX_TOP_LOGPROBS + k],
  }));
  return { logprob: floats[offset], top };
}
