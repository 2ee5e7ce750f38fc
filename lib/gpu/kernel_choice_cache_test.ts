// Tests of KernelChoiceCache: choices survive a new cache object on the same file, other
// adapters' entries are kept, a corrupt file is ignored with a warning and then rewritten, and
// $WEBGPU_LORA_KERNEL_CACHE names the file.
import assert from "node:assert/strict";
import { join } from "node:path";
import { KERNEL_CACHE_ENV, KernelChoiceCache } from "./kernel_choice_cache.ts";

const LAVAPIPE = "65541 /  / 0 / llvmpipe (LLVM 15.0.6, 256 bits) / deno 2.9.6 / binding 134217728";
const OTHER = "4318 / ada / 9984 / NVIDIA H100 / deno 2.9.6 / binding 2147483644";

Deno.test("choices persist per adapter key, in a folder created on the first write", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "nested", "kernel_choices.json");
  const warnings: string[] = [];
  const cache = new KernelChoiceCache(path, (m) => warnings.push(m));
  assert.equal(await cache.get(LAVAPIPE), null, "a missing file is an empty cache, silently");
  await cache.set(LAVAPIPE, {
    small: "gemv",
    large: "blocked",
    fuseLoads: false,
    subgroupReductions: false,
  });
  await cache.set(OTHER, {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: true,
  });
  const reread = new KernelChoiceCache(path);
  assert.deepEqual(await reread.get(LAVAPIPE), {
    small: "gemv",
    large: "blocked",
    fuseLoads: false,
    subgroupReductions: false,
  });
  assert.deepEqual(await reread.get(OTHER), {
    small: "gemv_split",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: true,
  });
  assert.deepEqual(warnings, []);
  const names = [...Deno.readDirSync(join(dir, "nested"))].map((e) => e.name);
  assert.deepEqual(names, ["kernel_choices.json"], "no temporary file is left behind");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a corrupt or foreign cache file is ignored with a warning, then replaced", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "kernel_choices.json");
  for (const text of ["{not json", '{"version":1,"choices":{"k":{"small":"fast"}}}', "[]"]) {
    await Deno.writeTextFile(path, text);
    const warnings: string[] = [];
    const cache = new KernelChoiceCache(path, (m) => warnings.push(m));
    assert.equal(await cache.get("k"), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /is not a valid cache file; ignoring it/);
  }
  const cache = new KernelChoiceCache(path, () => {});
  await cache.set("k", {
    small: "gemv",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: false,
  });
  assert.deepEqual(await new KernelChoiceCache(path).get("k"), {
    small: "gemv",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: false,
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an entry cached before subgroup reductions existed is read without them", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "kernel_choices.json");
  const entry = { small: "gemv", large: "blocked", fuseLoads: false };
  await Deno.writeTextFile(path, JSON.stringify({ version: 1, choices: { k: entry } }));
  const warnings: string[] = [];
  assert.deepEqual(await new KernelChoiceCache(path, (m) => warnings.push(m)).get("k"), entry);
  assert.deepEqual(warnings, []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a cache that cannot be written warns instead of failing", async () => {
  const dir = await Deno.makeTempDir();
  const blocker = join(dir, "file");
  await Deno.writeTextFile(blocker, "");
  const warnings: string[] = [];
  const cache = new KernelChoiceCache(
    join(blocker, "kernel_choices.json"),
    (m) => warnings.push(m),
  );
  await cache.set("k", {
    small: "gemv",
    large: "tiled",
    fuseLoads: true,
    subgroupReductions: false,
  });
  assert.ok(warnings.some((m) => /not written/.test(m)), warnings.join("\n"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("$WEBGPU_LORA_KERNEL_CACHE names the file; else XDG_CACHE_HOME, else ~/.cache", () => {
  const saved = [KERNEL_CACHE_ENV, "XDG_CACHE_HOME", "HOME"].map((k) => [k, Deno.env.get(k)]);
  try {
    Deno.env.set(KERNEL_CACHE_ENV, "/tmp/x/choices.json");
    assert.equal(KernelChoiceCache.fromEnvironment()?.path, "/tmp/x/choices.json");
    Deno.env.delete(KERNEL_CACHE_ENV);
    Deno.env.set("XDG_CACHE_HOME", "/tmp/xdg");
    assert.equal(
      KernelChoiceCache.fromEnvironment()?.path,
      "/tmp/xdg/webgpu-lora/kernel_choices.json",
    );
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.set("HOME", "/home/u");
    assert.equal(
      KernelChoiceCache.fromEnvironment()?.path,
      "/home/u/.cache/webgpu-lora/kernel_choices.json",
    );
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
  }
});
