/**
 * Request bodies, validated with zod: OpenAI's completion, chat and fine-tuning requests and
 * the adapter routes. Fields OpenAI clients send by default are accepted; features this server
 * lacks (tools, JSON mode, logit_bias, best_of, suffix) are refused by name rather than
 * ignored. Penalties: `presence_penalty` and `frequency_penalty` in [−2, 2], `min_p` in [0, 1].
 * Completions take one prompt or up to {@linkcode MAX_PROMPTS}, as text or token ids.
 * Logprobs: chat's `logprobs` and `top_logprobs` (0 to 20), completions' `logprobs`
 * (0 to 5) and `echo`, with `max_tokens` 0 for echo alone. Chat and
 * fine-tuning requests also take vLLM's `chat_template_kwargs`, and both generation requests
 * vLLM's `stop_token_ids`; `n` up to {@linkcode MAX_N}. The vLLM routes' bodies (tokenize,
 * detokenize, load and unload an adapter) are here too.
 *
 * @module
 */
import type { Context } from "hono";
import { z } from "zod";
import { checkChatTemplateKwargs, MAX_SEED, MAX_TOP_LOGPROBS } from "../mod.ts";
import { ApiError } from "./errors.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./json_depth.ts";
import { NAME_PATTERN } from "./safe_path.ts";

/** Accepts only absent, null, or one of `allowed`; anything else is refused as unsupported. */
function off(what: string, allowed: unknown[] = []) {
  return z.unknown().refine(
    (v) => v === null || allowed.some((a) => JSON.stringify(a) === JSON.stringify(v)),
    { error: `${what} is not supported by this server` },
  ).optional();
}

/** vLLM's `chat_template_kwargs`: variables of the chat template, e.g. `{"enable_thinking": false}`. */
const chatTemplateKwargs = z.unknown().transform((value, ctx) => {
  if (value === null) return undefined;
  try {
    return checkChatTemplateKwargs(value);
  } catch (e) {
    ctx.issues.push({ code: "custom", message: (e as Error).message, input: value });
    return z.NEVER;
  }
}).optional();

const stopSchema = z.union([
  z.string().min(1).max(256),
  z.array(z.string().min(1).max(256)).max(4),
], { error: "Expected a non-empty string or up to 4 of them, each at most 256 characters" });

/** The most choices one request may ask for (`n`). */
export const MAX_N = 16;

/** Sampling and streaming fields shared by completions and chat completions. */
const generationFields = {
  model: z.string().min(1).max(256),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(-1).max(1_000_000).nullish(),
  repetition_penalty: z.number().gt(0).max(100).nullish(),
  seed: z.number().int().min(0).max(MAX_SEED).nullish(),
  stop: stopSchema.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().max(256).nullish(),
  n: z.number().int().min(1).max(MAX_N).nullish(),
  stop_token_ids: z.array(z.number().int().min(0)).max(64).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: off("logit_bias", [{}]),
};

/** The most prompts one completion request may hold. */
export const MAX_PROMPTS = 64;

/** One prompt of a completion: text, or token ids given as they are (no BOS added). */
export type CompletionPrompt = string | { tokenIds: number[] };

const isTokenId = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** Why `ids` is not a token-id prompt, or null when it is one (the vocabulary is checked later). */
function tokenIdsProblem(ids: unknown[]): string | null {
  if (ids.length === 0) return "a token-id prompt needs at least one id";
  const bad = ids.findIndex((id) => !isTokenId(id));
  return bad < 0 ? null : `token ${bad} is ${JSON.stringify(ids[bad])}, not an integer id >= 0`;
}

/**
 * OpenAI's and vLLM's completion `prompt`: a string, an array of strings, an array of token
 * ids, or an array of token-id arrays; parsed into a list of prompts, problems named by their
 * path (`prompt` or `prompt.N`).
 */
const completionPrompts = z.unknown().transform((value, ctx): CompletionPrompt[] => {
  const fail = (message: string, path: number[] = []) => {
    ctx.issues.push({ code: "custom", message, input: value, path });
    return z.NEVER;
  };
  if (typeof value === "string") return [value];
  if (!Array.isArray(value) || value.length === 0) {
    return fail("Expected a string, strings, token ids or arrays of token ids");
  }
  if (value.every((v) => typeof v === "number")) {
    const problem = tokenIdsProblem(value);
    return problem ? fail(problem) : [{ tokenIds: value }];
  }
  if (value.length > MAX_PROMPTS) return fail(`Expected at most ${MAX_PROMPTS} prompts`);
  const prompts: CompletionPrompt[] = [];
  for (const [i, v] of value.entries()) {
    if (typeof v === "string") prompts.push(v);
    else if (Array.isArray(v)) {
      const problem = tokenIdsProblem(v);
      if (problem) return fail(problem, [i]);
      prompts.push({ tokenIds: v });
    } else return fail("Expected a string or an array of token ids", [i]);
  }
  return prompts;
});

/** The most top logprobs of a completion (OpenAI's legacy limit). */
export const MAX_COMPLETION_LOGPROBS = 5;

/** `POST /v1/completions`. */
export const completionRequest = z.object({
  ...generationFields,
  max_tokens: z.number().int().min(0).nullish(),
  prompt: completionPrompts,
  logprobs: z.number().int().min(0).max(MAX_COMPLETION_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
  best_of: off("best_of other than 1", [1]),
  suffix: off("suffix"),
}).refine((r) => r.max_tokens !== 0 || (r.echo === true && r.logprobs != null), {
  error: "max_tokens 0 generates nothing: it needs echo with logprobs (prompt logprobs alone)",
  path: ["max_tokens"],
});

/** A parsed completion request. */
export type CompletionRequest = z.infer<typeof completionRequest>;

const contentPart = z.object({ type: z.literal("text"), text: z.string() }, {
  error: 'Expected a text part {type: "text", text}',
});

/** `POST /v1/chat/completions`. */
export const chatRequest = z.object({
  ...generationFields,
  messages: z.array(z.object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([z.string(), z.array(contentPart).min(1)], {
      error: "Expected a string or an array of text parts",
    }),
    name: z.string().max(256).optional(),
  })).min(1).max(1024),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  tools: off("tools", [[]]),
  tool_choice: off("tool_choice", ["none"]),
  functions: off("functions", [[]]),
  function_call: off("function_call", ["none"]),
  response_format: off("response_format other than text", [{ type: "text" }]),
  chat_template_kwargs: chatTemplateKwargs,
}).refine((r) => r.top_logprobs == null || r.logprobs === true, {
  error: "top_logprobs needs logprobs: true",
  path: ["top_logprobs"],
});

/** A parsed chat completion request. */
export type ChatRequest = z.infer<typeof chatRequest>;

/** A fine-tuning job's hyper-parameters: OpenAI's names plus the LoRA ones. */
const hyperparameters = z.strictObject({
  n_epochs: z.union([z.literal("auto"), z.number().int().min(1).max(1000)]).optional(),
  batch_size: z.union([z.literal("auto"), z.number().int().min(1).max(64)]).optional(),
  learning_rate: z.number().gt(0).max(1).optional(),
  learning_rate_multiplier: z.union([z.literal("auto"), z.number().gt(0).max(1000)]).optional(),
  lora_r: z.number().int().min(1).max(512).optional(),
  lora_alpha: z.number().gt(0).max(65536).optional(),
  lora_dropout: z.number().min(0).lt(1).optional(),
  target_modules: z.union([z.literal("all-linear"), z.array(z.string()).min(1).max(7)])
    .optional(),
  max_steps: z.number().int().min(1).max(10_000_000).optional(),
  gradient_accumulation_steps: z.number().int().min(1).max(4096).optional(),
  max_length: z.number().int().min(2).max(1_000_000).optional(),
});

/**
 * `POST /v1/fine_tuning/jobs`: data as an uploaded file's id, a file under `--data-dir`, or
 * inline; hyper-parameters at the top (OpenAI's older form) or in
 * `method: {type: "supervised", supervised: {hyperparameters}}`.
 */
export const fineTuningRequest = z.strictObject({
  model: z.string().min(1).max(256),
  training_file: z.string().min(1).max(1024).optional(),
  training_data: z.union([z.string().min(1), z.array(z.unknown()).min(1)], {
    error: "Expected the text of a JSON or JSONL data set, or an array of records",
  }).optional(),
  hyperparameters: hyperparameters.optional(),
  method: z.strictObject({
    type: z.literal("supervised", { error: 'Only method type "supervised" is supported' }),
    supervised: z.strictObject({ hyperparameters: hyperparameters.optional() }).optional(),
  }).optional(),
  suffix: z.string().regex(NAME_PATTERN, {
    error: "Expected 1 to 64 letters, digits, ., _ or -, not starting with .",
  }).optional(),
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).refine(
    (m) => Object.keys(m).length <= 16,
    { error: "Expected at most 16 keys" },
  ).nullish(),
  integrations: z.array(z.unknown()).max(0, {
    error: "Integrations are not supported by this server",
  }).nullish(),
  chat_template_kwargs: chatTemplateKwargs,
  validation_file: z.string().min(1).max(1024).nullish(),
}).refine((r) => (r.training_file === undefined) !== (r.training_data === undefined), {
  error: "Give exactly one of training_file and training_data",
  path: ["training_file"],
}).refine((r) => !(r.hyperparameters && r.method?.supervised?.hyperparameters), {
  error: "Give hyperparameters either at the top or in method.supervised, not both",
  path: ["hyperparameters"],
});

/** A parsed fine-tuning request. */
export type FineTuningRequest = z.infer<typeof fineTuningRequest>;

/** `POST /v1/adapters`: (re)load an adapter folder of the adapters directory. */
export const loadAdapterRequest = z.strictObject({
  name: z.string().min(1).max(256),
});

/** vLLM's `POST /v1/load_lora_adapter`: a PEFT folder inside the adapters directory. */
export const vllmLoadLoraRequest = z.object({
  lora_name: z.string().regex(NAME_PATTERN, {
    error: "Expected 1 to 64 letters, digits, ., _ or -, not starting with .",
  }),
  lora_path: z.string().min(1).max(1024),
});

/** vLLM's `POST /v1/unload_lora_adapter`. */
export const vllmUnloadLoraRequest = z.object({
  lora_name: z.string().min(1).max(256),
  lora_int_id: z.number().int().nullish(),
});

/** vLLM's `POST /tokenize`: a prompt, or chat messages through the chat template. */
export const tokenizeRequest = z.union([
  z.object({
    model: z.string().max(256).nullish(),
    prompt: z.string().max(1 << 20),
    add_special_tokens: z.boolean().nullish(),
  }),
  z.object({
    model: z.string().max(256).nullish(),
    messages: z.array(z.object({
      role: z.enum(["system", "developer", "user", "assistant"]),
      content: z.string(),
    })).min(1).max(1024),
    add_generation_prompt: off("add_generation_prompt other than true", [true]),
    chat_template_kwargs: chatTemplateKwargs,
  }),
], { error: "Expected {prompt} or {messages}" });

/** vLLM's `POST /detokenize`. */
export const detokenizeRequest = z.object({
  model: z.string().max(256).nullish(),
  tokens: z.array(z.number().int().min(0)).max(1 << 20),
});

/** `GET /v1/fine_tuning/jobs/{id}/events` and the jobs list: OpenAI's paging query. */
export const pageQuery = z.object({
  after: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  stream: z.enum(["true", "false"]).optional(),
});

/** The first problem zod found, as a 400 {@linkcode ApiError} naming the field. */
function validationError(error: z.ZodError): ApiError {
  const issue = error.issues[0];
  const param = issue.path.map(String).join(".") || null;
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
    const where = param ? ` in ${param}` : "";
    return new ApiError(400, `Unknown field ${keys}${where}`, { param: issue.keys[0] ?? param });
  }
  return new ApiError(400, `Invalid ${param ?? "request body"}: ${issue.message}`, { param });
}

/** Parses `value` with `schema`, throwing a 400 {@linkcode ApiError} when it does not fit. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}

/**
 * Reads the request body as JSON and validates it with `schema` (400 on bad JSON or fields, and
 * on JSON nested deeper than {@linkcode MAX_JSON_DEPTH}, which is refused before parsing).
 */
export async function readBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  const text = await c.req.text();
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, `Request body nests deeper than ${MAX_JSON_DEPTH} levels`, {
      code: "json_too_deep",
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `Request body is not valid JSON: ${(e as Error).message}`, {
      code: "invalid_json",
    });
  }
  return parseWith(schema, value);
}
