/**
 * A generation as the server's routes consume it: chunks of text with their token ids and
 * logprobs, ending with the whole result, from a batched model (including a prompt that is only
 * scored) or from an unbatched model's text deltas.
 *
 * @module
 */
import type {
  BatchedGenerationResult,
  BatchedModel,
  GenerationResult,
  LogprobChunk,
} from "../mod.ts";

/**
 * A batched generation's chunks; with `maxTokens` 0, none: the prompt is only scored (OpenAI's
 * echo with max_tokens 0).
 */
export async function* generatedChunks(
  batched: BatchedModel,
  ids: number[],
  options: Parameters<BatchedModel["chunks"]>[1] & { maxTokens: number },
): AsyncGenerator<LogprobChunk, BatchedGenerationResult> {
  if (options.maxTokens > 0) return yield* batched.chunks({ ids }, options);
  const scored = await batched.scorePrompt({ ids }, options.logprobs?.prompt ?? 0, options);
  return {
    ...scored,
    text: "",
    tokens: [],
    tokenLogprobs: options.logprobs?.tokens === undefined ? null : [],
    promptTokens: ids.length,
    completionTokens: 0,
    finishReason: "length",
  };
}

/** An unbatched generation's text deltas as chunks without token ids or logprobs. */
export async function* textChunks(
  deltas: AsyncGenerator<string, GenerationResult>,
  ids: number[],
): AsyncGenerator<LogprobChunk, BatchedGenerationResult> {
  while (true) {
    const next = await deltas.next();
    if (next.done) {
      return { ...next.value, promptIds: ids, tokenLogprobs: null, promptLogprobs: null };
    }
    yield { text: next.value, tokenIds: [], logprobs: [] };
  }
}
