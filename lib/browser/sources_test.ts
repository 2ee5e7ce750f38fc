import assert from "node:assert/strict";
import { ModelFileNotFoundError, type ModelSource } from "../format/model_source.ts";
import { FakeDirectory } from "./_fake_handles.ts";
import type { PickedFile } from "./file_handles.ts";
import { directoryModelSource, pickedFilesModelSource } from "./folder_sources.ts";
import { cachedModelSource, writeFilesToFolder } from "./opfs.ts";
import { unzipFiles, zipFiles } from "./zip.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function picked(path: string, text: string): PickedFile {
  const file = new File([text], path.split("/").pop()!);
  return Object.assign(file, { webkitRelativePath: path });
}

Deno.test("pickedFilesModelSource reads paths below the picked folder", async () => {
  const source = pickedFilesModelSource([
    picked("tiny/config.json", "{}"),
    picked("tiny/sub/model.safetensors", "weights"),
  ]);
  assert.equal(source.name, "tiny");
  assert.equal(dec(await source.read("config.json")), "{}");
  assert.equal(dec(await source.read("sub/model.safetensors")), "weights");
  assert.equal(await source.has("tokenizer.json"), false);
  await assert.rejects(source.read("tokenizer.json"), ModelFileNotFoundError);
  await assert.rejects(source.read("../etc/passwd"), /Invalid model file path/);
  assert.throws(() => pickedFilesModelSource([]), /No files were picked/);
});

Deno.test("directoryModelSource reads nested files and reports missing ones", async () => {
  const root = new FakeDirectory("model");
  await writeFilesToFolder(root, new Map([["config.json", enc("{}")], ["a/b.bin", enc("ab")]]));
  const source = directoryModelSource(root);
  assert.equal(dec(await source.read("a/b.bin")), "ab");
  assert.equal(await source.has("config.json"), true);
  assert.equal(await source.has("a/missing.bin"), false);
  assert.equal(await source.has("config.json/x"), false); // a file where a folder is expected
  await assert.rejects(source.read("nope/b.bin"), ModelFileNotFoundError);
  await assert.rejects(writeFilesToFolder(root, new Map([["/abs", enc("")]])), /Invalid model/);
});

Deno.test("cachedModelSource reads each file from its source once, then from the cache", async () => {
  const reads: string[] = [];
  const origin: ModelSource = {
    name: "https://example.com/tiny/",
    read: (path) => {
      reads.push(path);
      if (path !== "config.json") return Promise.reject(new ModelFileNotFoundError("o", path));
      return Promise.resolve(enc(`{"n":1}`));
    },
    has: (path) => Promise.resolve(path === "config.json"),
  };
  const cache = new FakeDirectory("cache");
  const first = cachedModelSource(origin, cache);
  assert.equal(dec(await first.read("config.json")), `{"n":1}`);
  const reloaded = cachedModelSource(origin, cache); // as after a page reload
  assert.equal(dec(await reloaded.read("config.json")), `{"n":1}`);
  assert.deepEqual(reads, ["config.json"]);
  assert.equal(await first.has("tokenizer.json"), false);
  let asked = 0;
  const offline = cachedModelSource({ ...origin, has: () => Promise.resolve(!!++asked) }, cache);
  assert.equal(await offline.has("config.json"), true);
  assert.equal(await offline.has("tokenizer.json"), false); // remembered as absent
  assert.equal(asked, 0);
  await assert.rejects(reloaded.read("tokenizer.json"), ModelFileNotFoundError);
  assert.equal(cache.entries.has("tokenizer.json"), false); // nothing cached for a failed read
});

Deno.test("zipFiles and unzipFiles round-trip nested files and refuse bad archives", () => {
  const files = new Map([["adapter_config.json", enc("{}")], ["x/adapter.bin", enc("bytes")]]);
  const zip = zipFiles(files);
  assert.deepEqual([...zip.subarray(0, 4)], [0x50, 0x4b, 3, 4]); // "PK\3\4"
  assert.deepEqual(unzipFiles(zip), files);
  assert.throws(() => unzipFiles(enc("not a zip")), /Not a zip file/);
  assert.throws(() => zipFiles(new Map([["../x", enc("")]])), /Invalid model file path/);
});
