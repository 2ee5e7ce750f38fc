import assert from "node:assert/strict";
import { checkChatTemplateKwargs } from "./chat_template_kwargs.ts";
import { TextTokenizer } from "./tokenizer.ts";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";

Deno.test("checkChatTemplateKwargs accepts an object of variables and refuses the rest", () => {
  const kwargs = { enable_thinking: false, tools: [] };
  assert.equal(checkChatTemplateKwargs(kwargs), kwargs);
  assert.deepEqual(checkChatTemplateKwargs({}), {});
  for (const bad of [null, 5, "x", [1], undefined]) {
    assert.throws(
      () => checkChatTemplateKwargs(bad),
      /^TypeError: Chat template kwargs must be a JSON object of template variables, got /,
    );
  }
  assert.throws(
    () => checkChatTemplateKwargs({ messages: [], add_generation_prompt: true }),
    /must not set messages or add_generation_prompt: they have options of their own/,
  );
});

Deno.test("applyChatTemplate passes chatTemplateKwargs to the template as variables", () => {
  const { json, config } = fixtureTokenizer("small");
  const tok = TextTokenizer.fromJson(json, {
    ...config,
    chat_template: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}" +
      "{% if add_generation_prompt %}>{% endif %}{% if greeting is defined %}{{ greeting }}" +
      "{% endif %}",
  });
  const messages = [{ role: "user" as const, content: "a" }];
  assert.equal(tok.applyChatTemplate(messages), "<|begin_of_text|>a");
  assert.equal(
    tok.applyChatTemplate(messages, {
      addGenerationPrompt: true,
      chatTemplateKwargs: { greeting: "hi" },
    }),
    "<|begin_of_text|>a>hi",
  );
  // As in Hugging Face's apply_chat_template, a variable may override a special token's text.
  assert.equal(
    tok.applyChatTemplate(messages, { chatTemplateKwargs: { bos_token: "<s>" } }),
    "<s>a",
  );
  assert.throws(
    () => tok.applyChatTemplate(messages, { chatTemplateKwargs: { messages: [] } }),
    /Chat template kwargs must not set messages/,
  );
  assert.throws(
    () => tok.applyChatTemplate(messages, { chatTemplateKwargs: "x" as never }),
    /Chat template kwargs must be a JSON object/,
  );
});
