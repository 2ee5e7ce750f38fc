/**
 * OpenAI-compatible generation routes, mounted under `/v1`: `GET /models`, `GET /models/{id}`,
 * `POST /completions` and `POST /chat/completions`, streaming or not. The request's `model`
 * picks the base model or an adapter.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import {
  type BatchedGenerationResult,
  type ChatMessage,
  type LogprobChunk,
  SharedPrefill,
} from "../mod.ts";
import type { ServerEngine } from "./engine.ts";
import type { GenerationRequest } from "./generation_request.ts";
import { chatLogprobs, CompletionLogprobs } from "./logprobs_format.ts";
import { ApiError } from "./errors.ts";
import { randomId } from "./job_store.ts";
import { type ChatRequest, chatRequest, completionRequest, readBody } from "./request_schemas.ts";
import { eventStream } from "./sse.ts";

/** How one endpoint shapes its response and its stream chunks; `index` numbers the choice. */
interface Shape {
  /** The whole response of a non-streamed request: one result per choice. */
  full(results: Result[]): Record<string, unknown>;
  /** Chunks sent before the first text of choice `index` (chat: the assistant role). */
  opening(index: number): Record<string, unknown>[];
  /** A chunk with new text (and its tokens' logprobs, where asked). */
  delta(chunk: LogprobChunk, index: number): Record<string, unknown>;
  /** The last chunk of a choice, carrying its finish reason. */
  finish(result: Result, index: number): Record<string, unknown>;
  /** The chunk that carries the usage of a stream (no choices). */
  usage(results: Result[]): Record<string, unknown>;
}

type Result = BatchedGenerationResult;

/**
 * The OpenAI `usage` object of a request's choices, `n` per prompt: each prompt counted once.
 */
function usage(results: Result[], n: number) {
  const completion = results.reduce((sum, r) => sum + r.completionTokens, 0);
  const prompt = results.reduce((sum, r, i) => sum + (i % n === 0 ? r.promptTokens : 0), 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

/** A piece of a choice: text, its tokens and their logprobs, and (first piece) the prompt's. */
type Piece = Pick<LogprobChunk, "text" | "tokenIds" | "logprobs"> & {
  promptLogprobs?: Result["promptLogprobs"];
};

/**
 * The tokens each choice of a stream has sent, so that its finish chunk carries the rest (an
 * EOS, the tokens of a stop string) and every sampled token's logprobs go out once.
 */
class ChoiceTokens {
  readonly #sent = new Map<number, number>();

  /** A streamed chunk of choice `index`, counted. */
  piece(chunk: LogprobChunk, index: number): Piece {
    this.#sent.set(index, (this.#sent.get(index) ?? 0) + chunk.tokenIds.length);
    return chunk;
  }

  /** The tokens of choice `index` not sent yet, without text. */
  rest(result: Result, index: number): Piece {
    const from = this.#sent.get(index) ?? 0;
    return {
      ...this.whole(result),
      text: "",
      tokenIds: result.tokens.slice(from),
      logprobs: (result.tokenLogprobs ?? []).slice(from),
    };
  }

  /** All of a choice, for a response that is not streamed. */
  whole(result: Result): Piece {
    return {
      text: result.text,
      tokenIds: result.tokens,
      logprobs: result.tokenLogprobs ?? [],
      promptLogprobs: result.promptLogprobs,
    };
  }
}

type Deltas = AsyncGenerator<LogprobChunk, Result>;
type Step = IteratorResult<LogprobChunk, Result>;

/** The steps of several generations as they come: each with its generation's index. */
async function* interleaved(
  streams: Deltas[],
  firsts: Step[],
): AsyncGenerator<{ index: number; step: Step }> {
  const pending = new Map<number, Promise<{ index: number; step: Step }>>();
  firsts.forEach((step, index) => pending.set(index, Promise.resolve({ index, step })));
  while (pending.size > 0) {
    const next = await Promise.race(pending.values());
    if (next.step.done) pending.delete(next.index);
    else {
      pending.set(
        next.index,
        streams[next.index].next().then((step) => ({ index: next.index, step })),
      );
    }
    yield next;
  }
}

/** The sampling fields both endpoints share. */
type SamplingFields = Pick<
  ChatRequest,
  | "model"
  | "temperature"
  | "top_p"
  | "top_k"
  | "repetition_penalty"
  | "presence_penalty"
  | "frequency_penalty"
  | "min_p"
  | "seed"
  | "stop"
  | "stop_token_ids"
>;

/** The sampling fields of a request, in engine terms. */
function samplingOf(body: SamplingFields) {
  return {
    model: body.model,
    temperature: body.temperature,
    topP: body.top_p,
    topK: body.top_k,
    repetitionPenalty: body.repetition_penalty,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    minP: body.min_p,
    seed: body.seed,
    stop: body.stop === undefined || body.stop === null ? undefined : [body.stop].flat(),
    stopTokenIds: body.stop_token_ids ?? undefined,
  };
}

/**
 * Answers a generation request of one or more prompts (`requests`), `n` choices each, choice
 * `i` of prompt `p` at index `p * n + i`: the whole object, or (with the body's `stream`) an
 * SSE stream whose first chunk is only sent once generation has started, so that 4xx errors
 * (queue full, prompt too long) are still plain JSON responses.
 */
async function respond(
  c: Context,
  engine: ServerEngine,
  requests: GenerationRequest[],
  body: Pick<ChatRequest, "stream" | "stream_options" | "n">,
  makeShape: (id: string, created: number) => Shape,
  onUnexpected: (error: unknown) => void,
): Promise<Response> {
  const abort = new AbortController(); // aborted when the client goes away
  c.req.raw.signal.addEventListener("abort", () => abort.abort(), { once: true });
  const shape = makeShape(randomId(""), Math.floor(Date.now() / 1000));
  const n = body.n ?? 1;
  if (engine.batched === null && (n > 1 || requests.length > 1)) {
    const what = n > 1 ? "Several choices (n > 1)" : "Several prompts";
    throw new ApiError(
      400,
      `${what} need continuous batching: the WebGPU backend with --max-batch`,
      { param: n > 1 ? "n" : "prompt" },
    );
  }
  // Choice i draws with seed + i, so that seeded choices differ and repeat.
  const seedOf = (request: GenerationRequest, i: number) =>
    request.seed === undefined || request.seed === null ? request.seed : request.seed + i;
  const streams = requests.flatMap((request) => {
    const sharedPrefill = new SharedPrefill(); // the choices prefill their prompt once
    return Array.from(
      { length: n },
      (_, i) =>
        engine.stream({ ...request, seed: seedOf(request, i), sharedPrefill }, abort.signal),
    );
  });
  let firsts: Step[];
  try {
    firsts = await Promise.all(streams.map((s) => s.next())); // errors so far are JSON responses
  } catch (e) {
    abort.abort();
    await Promise.allSettled(streams.map((s) => s.return(undefined as never)));
    throw e;
  }
  const results: Result[] = [];
  if (!body.stream) {
    for await (const { index, step } of interleaved(streams, firsts)) {
      if (step.done) results[index] = step.value;
    }
    return c.json(shape.full(results));
  }
  const includeUsage = body.stream_options?.include_usage ?? false;
  const withUsage = (chunk: Record<string, unknown>) =>
    includeUsage ? { ...chunk, usage: null } : chunk;
  return eventStream(
    async (send) => {
      for (let i = 0; i < streams.length; i++) {
        for (const chunk of shape.opening(i)) send(withUsage(chunk));
      }
      for await (const { index, step } of interleaved(streams, firsts)) {
        if (!step.done) send(withUsage(shape.delta(step.value, index)));
        else {
          results[index] = step.value;
          send(withUsage(shape.finish(step.value, index)));
        }
      }
      if (includeUsage) send(shape.usage(results));
    },
    abort,
    onUnexpected,
  );
}

/** Flattens OpenAI message content (a string or text parts) and maps `developer` to `system`. */
export function chatMessages(messages: ChatRequest["messages"]): ChatMessage[] {
  return messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
}

/**
 * The `/v1` generation routes of `engine`; `onUnexpected` receives failures of a stream that
 * has already started (no longer answerable with a status).
 */
export function generationRoutes(
  engine: ServerEngine,
  onUnexpected: (error: unknown) => void,
): Hono {
  const app = new Hono();

  app.get("/models", async (c) => c.json({ object: "list", data: await engine.models() }));

  app.get("/models/:id", async (c) => c.json(await engine.modelCard(c.req.param("id"))));

  app.post("/completions", async (c) => {
    const body = await readBody(c, completionRequest);
    const echo = body.echo ?? false, n = body.n ?? 1;
    const logprobs = body.logprobs ?? undefined;
    const several = body.prompt.length > 1;
    const requests = body.prompt.map((prompt, p) => ({
      ...samplingOf(body),
      prompt,
      param: several ? `prompt.${p}` : "prompt",
      maxTokens: body.max_tokens,
      logprobs,
      promptLogprobs: echo ? logprobs : undefined,
    }));
    const tokenizer = engine.model.tokenizer;
    /** Prompt `p` as echoed: its text (token ids detokenized) and its ids. */
    const echoed = (p: number) => {
      const prompt = body.prompt[p];
      if (typeof prompt === "string") return { text: prompt, ids: engine.encode(prompt) };
      const text = tokenizer.decode(prompt.tokenIds, { skipSpecialTokens: false });
      return { text, ids: prompt.tokenIds };
    };
    return await respond(c, engine, requests, body, (id, created) => {
      const base = { id: `cmpl-${id}`, object: "text_completion", created, model: body.model };
      const choices = new ChoiceTokens();
      const offsets = new Map<number, CompletionLogprobs>(); // per choice, across chunks
      /** Choice `index` with a piece of text; its first piece starts with the echoed prompt. */
      const choice = (index: number, piece: Piece, finish: string | null) => {
        const first = echo && !offsets.has(index);
        if (!offsets.has(index)) offsets.set(index, new CompletionLogprobs(tokenizer));
        const prompt = first ? echoed(Math.floor(index / n)) : { text: "", ids: [] };
        const promptLps = first ? piece.promptLogprobs ?? [] : [];
        const lp = logprobs === undefined ? null : offsets.get(index)!.next(
          [...prompt.ids, ...piece.tokenIds],
          [...promptLps, ...piece.logprobs],
        );
        const text = prompt.text + piece.text;
        return { text, index, logprobs: lp, finish_reason: finish };
      };
      return {
        full: (rs) => ({
          ...base,
          choices: rs.map((r, i) => choice(i, choices.whole(r), r.finishReason)),
          usage: usage(rs, n),
        }),
        opening: () => [],
        delta: (chunk, i) => ({ ...base, choices: [choice(i, choices.piece(chunk, i), null)] }),
        finish: (r, i) => ({
          ...base,
          choices: [choice(i, choices.rest(r, i), r.finishReason)],
        }),
        usage: (rs) => ({ ...base, choices: [], usage: usage(rs, n) }),
      };
    }, onUnexpected);
  });

  app.post("/chat/completions", async (c) => {
    const body = await readBody(c, chatRequest);
    const logprobs = body.logprobs ? body.top_logprobs ?? 0 : undefined, n = body.n ?? 1;
    const request = {
      ...samplingOf(body),
      prompt: chatMessages(body.messages),
      chatTemplateKwargs: body.chat_template_kwargs,
      maxTokens: body.max_completion_tokens ?? body.max_tokens,
      logprobs,
    };
    const tokenizer = engine.model.tokenizer;
    const logprobsOf = (piece: Piece) =>
      logprobs === undefined || piece.tokenIds.length === 0
        ? null
        : chatLogprobs(tokenizer, piece.tokenIds, piece.logprobs);
    return await respond(c, engine, [request], body, (id, created) => {
      const base = { id: `chatcmpl-${id}`, created, model: body.model, system_fingerprint: null };
      const choices = new ChoiceTokens();
      const chunk = (
        delta: Record<string, unknown>,
        finish: string | null,
        index: number,
        piece?: Piece,
      ) => ({
        ...base,
        object: "chat.completion.chunk",
        choices: [{
          index,
          delta,
          logprobs: piece ? logprobsOf(piece) : null,
          finish_reason: finish,
        }],
      });
      return {
        full: (rs) => ({
          ...base,
          object: "chat.completion",
          choices: rs.map((r, index) => ({
            index,
            message: { role: "assistant", content: r.text, refusal: null },
            logprobs: logprobs === undefined
              ? null
              : logprobsOf(choices.whole(r)) ?? { content: [] },
            finish_reason: r.finishReason,
          })),
          usage: usage(rs, n),
        }),
        opening: (i) => [chunk({ role: "assistant", content: "" }, null, i)],
        delta: (c, i) => chunk({ content: c.text }, null, i, choices.piece(c, i)),
        finish: (r, i) => chunk({}, r.finishReason, i, choices.rest(r, i)),
        usage: (rs) => ({
          ...base,
          object: "chat.completion.chunk",
          choices: [],
          usage: usage(rs, n),
        }),
      };
    }, onUnexpected);
  });

  return app;
}
