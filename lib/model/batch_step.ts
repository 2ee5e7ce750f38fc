/**
 * What one step of the GPU batch engine takes and returns: the token rows (each with its
 * sequence's KV-cache slot, position and adapter), the tokens to sample, the prompt tokens to
 * score, and the sampled ids with their logprobs.
 *
 * @module
 */
import type { ResolvedSampling } from "../generate/sampling.ts";
import type { TokenLogprob } from "../ops/logprobs.ts";

/** One token row of a step. */
export interface StepRow {
  /** Its token id. */
  id: number;
  /** Its sequence's KV-cache slot, in [0, B). */
  slot: number;
  /** Its position in the sequence, in [0, S). */
  position: number;
  /** Its sequence's adapter slot, or −1 for none. */
  adapter: number;
}

/** A token to sample in a step: after `row`, for the sequence in cache slot `slot`. */
export interface StepSample {
  /** Index of the row in the step whose logits are sampled. */
  row: number;
  /** Its sequence's KV-cache slot (its seen flags). */
  slot: number;
  /** Sampling settings. */
  sampling: ResolvedSampling;
  /** Index of the token among the sequence's generated ones (seeds the draw). */
  step: number;
  /** Top logprobs to return with the sampled id (0: its logprob alone); absent: none. */
  logprobs?: number;
}

/** A prompt token to score in a step: its logprob after `row`, without sampling. */
export interface StepScore {
  /** Index of the row in the step whose logits predict `target`. */
  row: number;
  /** The id that follows the row (the next prompt token). */
  target: number;
  /** Top logprobs to return with it. */
  logprobs: number;
}

/** What a step returns. */
export interface StepOutput {
  /** The sampled ids, in the order of the samples (chained: step by step). */
  ids: number[];
  /** Each sampled id's logprobs, where its sample asked for them, else null. */
  logprobs: (TokenLogprob | null)[];
  /** The logprobs of each score, in order. */
  scores: TokenLogprob[];
}
