/**
 * The tokenizer files of a model folder and reading them into a {@linkcode TextTokenizer}:
 * `tokenizer.json`, `tokenizer_config.json`, `chat_template.jinja` (where current transformers
 * saves the chat template, read first as transformers does) and `generation_config.json`.
 *
 * @module
 */
import { type ModelSource, readJson } from "../format/model_source.ts";
import { TextTokenizer } from "./tokenizer.ts";

/** The chat template file that current transformers writes beside `tokenizer_config.json`. */
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

/**
 * The files a model folder's tokenizer and generation settings live in, fetched on download and
 * copied on merge when present.
 */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  CHAT_TEMPLATE_FILE,
  "special_tokens_map.json",
  "generation_config.json",
] as const;

/**
 * The tokenizer of a model folder, or null when it has no tokenizer.json. The chat template is
 * `chat_template.jinja` when present, else `tokenizer_config.json`'s `chat_template`.
 *
 * @example
 * ```ts
 * const tokenizer = await readTokenizer(dirModelSource("./model_cache/LLM-Research/Llama-3___2-1B"));
 * tokenizer?.encode("Hello"); // [128000, 9906]
 * ```
 */
export async function readTokenizer(source: ModelSource): Promise<TextTokenizer | null> {
  if (!(await source.has("tokenizer.json"))) return null;
  const optional = async (path: string) =>
    (await source.has(path)) ? await readJson(source, path) : undefined;
  const chatTemplate = (await source.has(CHAT_TEMPLATE_FILE))
    ? new TextDecoder().decode(await source.read(CHAT_TEMPLATE_FILE))
    : undefined;
  return TextTokenizer.fromJson(
    await readJson(source, "tokenizer.json"),
    await optional("tokenizer_config.json"),
    { generationConfig: await optional("generation_config.json"), chatTemplate },
  );
}
