/**
 * Turns validated records into training examples: a prompt and a completion (the prompt is
 * masked from the loss when training on completions only), or a text trained as a whole.
 *
 * @module
 */

import { formatTrainingRecord } from "../text/prompt_template.ts";
import type { ChatTemplateKwargs } from "../text/chat_template_kwargs.ts";
import type { ChatTemplateOptions } from "../text/tokenizer.ts";
import type { ChatMessage, DatasetRecord } from "./formats.ts";

/** One training example, ready to tokenise. */
export type TrainingExample = { prompt: string; completion: string } | { text: string };

/**
 * Renders chat messages with the model's chat template, e.g.
 * `(m, o) => tokenizer.applyChatTemplate(m, o)` for a `TextTokenizer`.
 */
export type RenderChat = (messages: ChatMessage[], options: ChatTemplateOptions) => string;

/**
 * Converts one record to a training example.
 * - alpaca: the training template of `prompt_template.ts` (default
 *   `Human: {instruction}\nAssistant: {output}`, the input appended to the instruction on a new
 *   line), with the system text, when there is one, on a line of its own before it;
 * - prompt/completion: as is;
 * - chat: the prompt is the template applied to every turn before the last assistant turn,
 *   with the generation prompt; the completion is the rest of the full rendering; both
 *   renderings get `chatTemplateKwargs` as template variables;
 * - text: as is.
 *
 * @param record a validated (and usually cleaned) record
 * @param where its location, for messages
 * @param renderChat the chat template, required for chat records
 * @param template the training template for alpaca records (see `prompt_template.ts`)
 * @param chatTemplateKwargs variables of the chat template, e.g. `{ enable_thinking: false }`
 * @throws {Error} for chat records without `renderChat`, or when the template's rendering of the
 *   prompt is not a prefix of the rendering of the whole conversation
 */
export function toExample(
  record: DatasetRecord,
  where: string,
  renderChat?: RenderChat,
  template?: string,
  chatTemplateKwargs?: ChatTemplateKwargs,
): TrainingExample {
  switch (record.format) {
    case "alpaca": {
      const { prompt, completion } = formatTrainingRecord(record, template);
      return { prompt: record.system === "" ? prompt : `${record.system}\n${prompt}`, completion };
    }
    case "prompt_completion":
      return { prompt: record.prompt, completion: record.completion };
    case "text":
      return { text: record.text };
    case "chat": {
      if (renderChat === undefined) {
        throw new Error(
          `Chat record at ${where} needs the model's chat template: pass renderChat ` +
            `(a tokenizer's applyChatTemplate)`,
        );
      }
      const prompt = renderChat(record.messages.slice(0, -1), {
        addGenerationPrompt: true,
        chatTemplateKwargs,
      });
      const full = renderChat(record.messages, { addGenerationPrompt: false, chatTemplateKwargs });
      if (!full.startsWith(prompt)) {
        throw new Error(
          `Chat template output for the record at ${where} does not start with its prompt ` +
            `${JSON.stringify(prompt.slice(-40))}, so the completion cannot be separated`,
        );
      }
      return { prompt, completion: full.slice(prompt.length) };
    }
  }
}
