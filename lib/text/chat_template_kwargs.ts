/**
 * Extra variables of a chat template, beyond the messages: what Hugging Face passes as
 * `apply_chat_template(..., **kwargs)` and vLLM as a request's `chat_template_kwargs`, e.g.
 * `{ enable_thinking: false }` for Qwen3.
 *
 * @module
 */

/** Chat template variables by name, e.g. `{ enable_thinking: false }`. */
export type ChatTemplateKwargs = Record<string, unknown>;

/** Variables that have options of their own (the messages, the generation prompt). */
const RESERVED = ["messages", "add_generation_prompt"];

/**
 * Returns `value` as chat template variables, or throws: it must be a plain object, and must
 * not set `messages` or `add_generation_prompt`, which the caller sets.
 *
 * @example
 * ```ts
 * checkChatTemplateKwargs({ enable_thinking: false }); // { enable_thinking: false }
 * checkChatTemplateKwargs([1]); // throws TypeError
 * ```
 */
export function checkChatTemplateKwargs(value: unknown): ChatTemplateKwargs {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `Chat template kwargs must be a JSON object of template variables, got ${
        String(JSON.stringify(value)).slice(0, 60)
      }`,
    );
  }
  const reserved = RESERVED.filter((key) => Object.hasOwn(value, key));
  if (reserved.length > 0) {
    throw new TypeError(
      `Chat template kwargs must not set ${reserved.join(" or ")}: they have options of their own`,
    );
  }
  return value as ChatTemplateKwargs;
}
