import assert from "node:assert/strict";
import { join } from "node:path";
import { dirModelSource, writeFileAtomic, writeModelFiles } from "./fs_model_source.ts";
import { ModelFileNotFoundError, readJson } from "./model_source.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) out.push(...await listFiles(join(dir, entry.name), `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

Deno.test("writeModelFiles then dirModelSource reads the same files", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = join(root, "new", "model");
    const files = new Map([
      ["config.json", encode('{"a":1}')],
      ["sub/weights.bin", Uint8Array.from({ length: 1000 }, (_, i) => i % 251)],
    ]);
    await writeModelFiles(dir, files);
    assert.deepEqual(await listFiles(dir), ["config.json", "sub/weights.bin"]);
    const source = dirModelSource(dir);
    assert.equal(source.name, dir);
    assert.deepEqual(await readJson(source, "config.json"), { a: 1 });
    assert.deepEqual(await source.read("sub/weights.bin"), files.get("sub/weights.bin"));
    assert.ok(await source.has("sub/weights.bin"));
    assert.ok(!(await source.has("sub")), "a folder is not a file");
    assert.ok(!(await source.has("model.safetensors")));
    const error = await source.read("model.safetensors").catch((e) => e);
    assert.ok(error instanceof ModelFileNotFoundError);
    assert.equal(error.message, `File "model.safetensors" not found in ${JSON.stringify(dir)}`);
    await assert.rejects(source.read("../x"), /Invalid model file path "..\/x"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeModelFiles refuses paths outside the folder before writing anything", async () => {
  const root = await Deno.makeTempDir();
  try {
    const files = new Map([["ok.json", encode("{}")], ["../escape.json", encode("{}")]]);
    await assert.rejects(writeModelFiles(join(root, "m"), files), /Invalid model file path/);
    assert.deepEqual(await listFiles(root), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeFileAtomic replaces content whole and leaves no temporary files", async () => {
  const root = await Deno.makeTempDir();
  try {
    const path = join(root, "f.json");
    await writeFileAtomic(path, "old");
    await writeFileAtomic(path, "new content");
    assert.equal(await Deno.readTextFile(path), "new content");
    const big = new Uint8Array((64 << 20) + 3); // two write chunks
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    await writeFileAtomic(path, big);
    assert.deepEqual(await Deno.readFile(path), big);
    await writeFileAtomic(path, new Uint8Array(0));
    assert.equal((await Deno.stat(path)).size, 0);
    assert.deepEqual(await listFiles(root), ["f.json"]);
    // A missing folder fails, and nothing is left behind.
    await assert.rejects(writeFileAtomic(join(root, "no", "f.json"), "x"), Deno.errors.NotFound);
    assert.deepEqual(await listFiles(root), ["f.json"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
