import assert from "node:assert/strict";
import { createFixtureModel } from "../fixtures/fixture_model.ts";
import { memoryModelSource } from "../format/model_source.ts";
import { CHAT_TEMPLATE_FILE, readTokenizer } from "./tokenizer_files.ts";

const user = [{ role: "user" as const, content: "hi" }];

Deno.test("readTokenizer prefers chat_template.jinja over tokenizer_config.json's template", async () => {
  const files = createFixtureModel();
  const fromConfig = (await readTokenizer(memoryModelSource("m", files)))!;
  assert.ok(fromConfig.hasChatTemplate);
  files.set(CHAT_TEMPLATE_FILE, new TextEncoder().encode("{{ messages[0].content }}|jinja"));
  const fromFile = (await readTokenizer(memoryModelSource("m", files)))!;
  assert.equal(fromFile.applyChatTemplate(user), "hi|jinja");
  assert.notEqual(fromConfig.applyChatTemplate(user), "hi|jinja");
});

Deno.test("readTokenizer reads chat_template.jinja when the config has no template", async () => {
  const files = createFixtureModel();
  const config = JSON.parse(new TextDecoder().decode(files.get("tokenizer_config.json")));
  delete config.chat_template;
  files.set("tokenizer_config.json", new TextEncoder().encode(JSON.stringify(config)));
  assert.equal((await readTokenizer(memoryModelSource("m", files)))!.hasChatTemplate, false);
  files.set(CHAT_TEMPLATE_FILE, new TextEncoder().encode("<{{ messages[0].role }}>"));
  const tok = (await readTokenizer(memoryModelSource("m", files)))!;
  assert.equal(tok.applyChatTemplate(user), "<user>");
});

Deno.test("readTokenizer is null without tokenizer.json", async () => {
  const files = createFixtureModel();
  files.delete("tokenizer.json");
  assert.equal(await readTokenizer(memoryModelSource("m", files)), null);
});
