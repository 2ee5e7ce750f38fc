/**
 * OpenAI-compatible generation routes, mounted under `/v1`: `GET /models`, `GET /models/{id}`,
 * `POST /completions` and `POST /chat/completions`, streaming or not. The request's `model`
 * picks the base model or an adapter.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { ChatMessage, GenerationResult } from "../mod.ts";
import type { GenerationRequest, ServerEngine } from "./engine.ts";
import { randomId } from "./job_store.ts";
import { type ChatRequest, chatRequest, completionRequest, readBody } from "./request_schemas.ts";
import { eventStream } from "./sse.ts";

/** How one endpoint shapes its response and its stream chunks. */
interface Shape {
  /** The whole response of a non-streamed request. */
  full(result: GenerationResult): Record<string, unknown>;
  /** Chunks sent before the first text (chat: the assistant role). */
  opening: Record<string, unknown>[];
  /** A chunk with new text. */
  delta(text: string): Record<string, unknown>;
  /** The last chunk with a choice, carrying the finish reason. */
  finish(reason: string): Record<string, unknown>;
}

/** The OpenAI `usage` object of a result. */
function usage(result: GenerationResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}

/** The sampling fields both endpoints share. */
type SamplingFields = Pick<
  ChatRequest,
  "model" | "temperature" | "top_p" | "top_k" | "repetition_penalty" | "seed" | "stop"
>;

/** The sampling fields of a request, in engine terms. */
function samplingOf(body: SamplingFields) {
  return {
    model: body.model,
    temperature: body.temperature,
    topP: body.top_p,
    topK: body.top_k,
    repetitionPenalty: body.repetition_penalty,
    seed: body.seed,
    stop: body.stop === undefined || body.stop === null ? undefined : [body.stop].flat(),
  };
}

/**
 * Answers a generation request: the whole object, or (with the body's `stream`) an SSE stream
 * whose first chunk is only sent once generation has started, so that 4xx errors (queue full,
 * prompt too long) are still plain JSON responses.
 */
async function respond(
  c: Context,
  engine: ServerEngine,
  request: GenerationRequest,
  body: Pick<ChatRequest, "stream" | "stream_options">,
  makeShape: (id: string, created: number) => Shape,
  onUnexpected: (error: unknown) => void,
): Promise<Response> {
  const abort = new AbortController(); // aborted when the client goes away
  c.req.raw.signal.addEventListener("abort", () => abort.abort(), { once: true });
  const shape = makeShape(randomId(""), Math.floor(Date.now() / 1000));
  const deltas = engine.stream(request, abort.signal);
  let next = await deltas.next(); // waits for the turn; errors so far are JSON responses
  if (!body.stream) {
    while (!next.done) next = await deltas.next();
    return c.json(shape.full(next.value));
  }
  const includeUsage = body.stream_options?.include_usage ?? false;
  const withUsage = (chunk: Record<string, unknown>) =>
    includeUsage ? { ...chunk, usage: null } : chunk;
  return eventStream(
    async (send) => {
      for (const chunk of shape.opening) send(withUsage(chunk));
      while (!next.done) {
        send(withUsage(shape.delta(next.value)));
        next = await deltas.next();
      }
      const result = next.value;
      send(withUsage(shape.finish(result.finishReason)));
      if (includeUsage) {
        send({ ...shape.finish(result.finishReason), choices: [], usage: usage(result) });
      }
    },
    abort,
    onUnexpected,
  );
}

/** Flattens OpenAI message content (a string or text parts) and maps `developer` to `system`. */
function chatMessages(messages: ChatRequest["messages"]): ChatMessage[] {
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
    const request = {
      ...samplingOf(body),
      prompt: [body.prompt].flat()[0],
      maxTokens: body.max_tokens,
    };
    return await respond(c, engine, request, body, (id, created) => {
      const base = { id: `cmpl-${id}`, object: "text_completion", created, model: body.model };
      const choice = (text: string, finish: string | null) => ({
        text,
        index: 0,
        logprobs: null,
        finish_reason: finish,
      });
      return {
        full: (r) => ({ ...base, choices: [choice(r.text, r.finishReason)], usage: usage(r) }),
        opening: [],
        delta: (text) => ({ ...base, choices: [choice(text, null)] }),
        finish: (reason) => ({ ...base, choices: [choice("", reason)] }),
      };
    }, onUnexpected);
  });

  app.post("/chat/completions", async (c) => {
    const body = await readBody(c, chatRequest);
    const request = {
      ...samplingOf(body),
      prompt: chatMessages(body.messages),
      chatTemplateKwargs: body.chat_template_kwargs,
      maxTokens: body.max_completion_tokens ?? body.max_tokens,
    };
    return await respond(c, engine, request, body, (id, created) => {
      const base = { id: `chatcmpl-${id}`, created, model: body.model, system_fingerprint: null };
      const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
        ...base,
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
      return {
        full: (r) => ({
          ...base,
          object: "chat.completion",
          choices: [{
            index: 0,
            message: { role: "assistant", content: r.text, refusal: null },
            logprobs: null,
            finish_reason: r.finishReason,
          }],
          usage: usage(r),
        }),
        opening: [chunk({ role: "assistant", content: "" }, null)],
        delta: (text) => chunk({ content: text }, null),
        finish: (reason) => chunk({}, reason),
      };
    }, onUnexpected);
  });

  return app;
}
