import assert from "node:assert/strict";
import { selectModelFiles } from "./select_files.ts";

const f = (path: string, size = 1) => ({ path, size });
const LISTING = [
  f(".gitattributes"),
  f("README.md"),
  f("LICENSE.txt"),
  f("config.json"),
  f("generation_config.json"),
  f("model.safetensors", 100),
  f("original/consolidated.00.pth"),
  f("original/params.json"),
  f("original/tokenizer.model"),
  f("special_tokens_map.json"),
  f("tokenizer.json"),
  f("tokenizer_config.json"),
  f("chat_template.jinja"),
];

Deno.test("selectModelFiles takes config, tokenizer and top-level safetensors only", () => {
  assert.deepEqual(selectModelFiles(LISTING, "m").map((x) => x.path), [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "generation_config.json",
    "model.safetensors",
  ]);
});

Deno.test("selectModelFiles takes only the shards the index names", () => {
  const listing = [
    f("config.json"),
    f("consolidated.safetensors"),
    f("model-00001-of-00002.safetensors"),
    f("model-00002-of-00002.safetensors"),
    f("model.safetensors.index.json"),
  ];
  const weightMap = {
    "a": "model-00002-of-00002.safetensors",
    "b": "model-00001-of-00002.safetensors",
    "c": "model-00001-of-00002.safetensors",
  };
  assert.deepEqual(selectModelFiles(listing, "m", weightMap).map((x) => x.path), [
    "config.json",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
  ]);
  assert.throws(
    () => selectModelFiles(listing, "m", { a: "model-00003-of-00003.safetensors" }),
    /Repository m lacks shards named in model\.safetensors\.index\.json: model-00003-of-00003\.safetensors/,
  );
});

Deno.test("selectModelFiles says what is missing", () => {
  assert.throws(
    () => selectModelFiles([f("model.safetensors")], "o/m"),
    /Repository o\/m has no config\.json/,
  );
  assert.throws(
    () =>
      selectModelFiles([f("config.json"), f("pytorch_model.bin"), f("sub/x.safetensors")], "o/m"),
    /Repository o\/m has no safetensors weights at its top level \(it has pytorch_model\.bin\): only safetensors/,
  );
});
