/**
 * Next-token sampling on the GPU (`kernels/sample.wgsl`): repetition, presence and frequency
 * penalties, temperature, min-p, top-k, top-p and a seeded draw, so decode steps can chain
 * without a host round trip.
 * Dimensions: V vocab, N sampled tokens.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** Sampling settings the kernel takes. */
export interface GpuSamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** Subtracted from the logits of generated ids; default 0 (off). */
  presencePenalty?: number;
  /** Subtracted from the logits of generated ids times their counts; default 0 (off). */
  frequencyPenalty?: number;
  /** Keeps ids at least this times as likely as the best; default 0 (off). */
  minP?: number;
  /** Seed of the draws; the draw of step s uses hash(seed, s). */
  seed: number;
}

/** The seen-count bit of an id in the prompt (the repetition penalty's, not counted as generated). */
export const SEEN_IN_PROMPT = 0x80000000;

/** A sequence's initial seen counts (V): {@linkcode SEEN_IN_PROMPT} for each prompt id. */
export function promptSeenCounts(
  promptIds: number[],
  vocabSize: number,
): Uint32Array<ArrayBuffer> {
  const seen = new Uint32Array(vocabSize); // (V)
  for (const id of promptIds) if (id >= 0 && id < vocabSize) seen[id] = SEEN_IN_PROMPT;
  return seen;
}

/** Arguments of {@linkcode recordSample}. */
export interface SampleArgs extends GpuSamplingParams {
  /** Logits (V) at element offset `logitsOffset`. */
  logits: GPUBuffer;
  /** Element offset of the row to sample from. */
  logitsOffset?: number;
  /**
   * Seen counts (V) at element offset `seenOffset`, u32: {@linkcode SEEN_IN_PROMPT} for prompt
   * ids plus the times an id was generated; the chosen id's count goes up by one.
   */
  seen: GPUBuffer;
  /** Element offset of the sequence's seen flags (batched decode: slot · V). */
  seenOffset?: number;
  /** Sampled ids (N); the chosen id goes to `outIndex`. */
  tokens: GPUBuffer;
  /** Index in `tokens`. */
  outIndex: number;
  /** The next step's input ids; the chosen id goes to element `idsIndex` (default 0). */
  ids: GPUBuffer;
  /** Element of `ids` that receives the chosen id (batched decode: the sequence's row). */
  idsIndex?: number;
  /** Vocabulary size V. */
  vocabSize: number;
  /** Step number mixed into the draw. */
  step: number;
}

/** Records one sampling dispatch (a single workgroup). */
export function recordSample(rec: CommandRecorder, args: SampleArgs): void {
  rec.dispatch({
    kernel: "sample",
    params: new ParamWriter()
      .u32(args.vocabSize).f32(args.temperature).u32(args.topK).f32(args.topP)
      .f32(args.repetitionPenalty).u32(args.seed >>> 0).u32(args.step >>> 0).u32(args.outIndex)
      .u32(args.logitsOffset ?? 0).u32(args.seenOffset ?? 0).u32(args.idsIndex ?? 0)
      .f32(args.presencePenalty ?? 0).f32(args.frequencyPenalty ?? 0).f32(args.minP ?? 0)
      .bytes(),
    buffers: [args.logits, args.seen, args.tokens, args.ids],
    workgroups: [1],
  });
}
