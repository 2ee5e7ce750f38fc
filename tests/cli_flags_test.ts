/**
 * Every command-line example answers --help/-h with its full flag list and --version, exits 0
 * for both, and refuses unknown flags with a suggestion; seeds beyond 32 bits are refused;
 * merge writes shards with --max-shard-size and describes them with --json. No GPU is needed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import { dirModelSource, writeModelFiles } from "../lib/format/fs_model_source.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { loraScaleOf, resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { mergeAdapter } from "../lib/lora/merge.ts";
import { readPeftAdapter, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { HUB_SOURCE_FILE } from "../lib/hub/hub_source.ts";
import { randomAdapter } from "./_lora_fixture.ts";
import { runExample } from "./_run_example.ts";
import denoJson from "../deno.json" with { type: "json" };

const COMMANDS: Record<string, string[]> = {
  train: [
    "--model DIR",
    "--rank N",
    "--grad-checkpoint",
    "--overwrite",
    "--base-model-id ID",
    "--json",
  ],
  merge: ["--model DIR", "--adapter DIR", "--max-shard-size SIZE", "--base-model-id ID", "--json"],
  infer: ["--model DIR", "--prompt TEXT", "--seed N", "--kv-cache f32|f16", "--json"],
  eval: ["--model DIR", "--data FILE", "--train-on completion|all", "--json"],
  estimate: ["--preset NAME", "--kv-cache f32|f16", "--json"],
  download: ["--model ID", "--source modelscope|huggingface", "--out DIR", "--json"],
  demo: ["--out DIR", "--records N"],
  fixture_run: ["--preset", "--steps N"],
  make_fixture: ["--out DIR", "--shard-bytes N"],
  export_adapter: ["--adapter DIR", "--out DIR", "--for-llama-cpp", "--base-model-id ID"],
};

Deno.test("every command answers --help and -h with its flags, and --version, exit 0", async () => {
  for (const [name, flags] of Object.entries(COMMANDS)) {
    for (const help of ["--help", "-h"]) {
      const run = await runExample(name, [help]);
      assert.equal(run.code, 0, `${name} ${help}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`Usage: deno run -A examples/${name}\\.ts`), name);
      for (const flag of [...flags, "-h, --help", "--version"]) {
        assert.ok(run.stdout.includes(flag), `${name} --help lists ${flag}:\n${run.stdout}`);
      }
    }
    const version = await runExample(name, ["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `webgpu-lora ${denoJson.version}`);
  }
});

Deno.test("an unknown flag exits 2 naming it, with the nearest flag and the usage", async () => {
  const typo = await runExample("train", ["--rnak", "4"]);
  assert.equal(typo.code, 2);
  assert.match(
    typo.stderr,
    /^Unknown flag --rnak: did you mean --rank\?\n\nUsage: deno run -A examples\/train\.ts/,
  );
  assert.match(typo.stderr, /Run with --help for every flag/);
  const prefix = await runExample("infer", ["--temp", "0"]);
  assert.match(prefix.stderr, /Unknown flag --temp: did you mean --temperature\?/);
  const far = await runExample("merge", ["--zzzzzz"]);
  assert.equal(far.code, 2);
  assert.match(far.stderr, /^Unknown flag --zzzzzz\n/);
});

Deno.test("seeds outside [0, 2^32) are refused before any work", async () => {
  for (const [name, more] of [["train", "--data"], ["infer", "--prompt"]]) {
    const run = await runExample(name, ["--model", "/none", more, "x", "--seed", "4294967296"]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--seed must be an integer in \[0, 2\^32\), got 4294967296/);
  }
});

Deno.test("merge --max-shard-size writes shards and an index, --json lists them, README names the base", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_merge_" });
  try {
    const model = join(dir, "model"), adapterDir = join(dir, "adapter"), out = join(dir, "merged");
    const files = createFixtureModel({ dtype: "BF16", seed: 2 });
    await writeModelFiles(model, files);
    const checkpoint = await readCheckpoint(memoryModelSource("m", files));
    const lora = resolveLoraConfig({ r: 2, targetModules: ["q_proj", "down_proj"] });
    const adapter = randomAdapter(checkpoint.config, lora, 7);
    await writeModelFiles(adapterDir, serializePeftAdapter(adapter, checkpoint.config, model));
    const args = ["--model", model, "--adapter", adapterDir, "--out", out];
    const run = await runExample("merge", [
      ...args,
      ...["--max-shard-size", "40KB", "--base-model-id", "Org/Tiny-0.1B", "--json"],
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    const shards = report.files.map((f: { path: string }) => f.path).filter((p: string) =>
      p.endsWith(".safetensors")
    );
    assert.ok(shards.length > 1, run.stdout);
    assert.ok(shards.every((p: string) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(p)));
    assert.ok(
      report.files.some((f: { path: string }) => f.path === "model.safetensors.index.json"),
    );
    assert.equal(report.base_model, "Org/Tiny-0.1B");
    for (const { path, bytes } of report.files) {
      assert.equal((await Deno.stat(join(out, path))).size, bytes, path);
    }
    assert.match(
      await Deno.readTextFile(join(out, "README.md")),
      /^---\nbase_model: Org\/Tiny-0\.1B\n/,
    );
    const merged = await readCheckpoint(dirModelSource(out));
    for (const [name, entry] of mergeAdapter(checkpoint, adapter)) {
      assert.deepEqual(merged.tensors.get(name)!.bytes, entry.bytes, name);
    }
    // Again into the same folder: refused without --overwrite, replaced with it.
    const again = await runExample("merge", args);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /is not empty: choose a new folder, or pass --overwrite/);
    const replaced = await runExample("merge", [...args, "--overwrite", "--json"]);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.deepEqual(
      JSON.parse(replaced.stdout).files.map((f: { path: string }) => f.path).filter((p: string) =>
        p.endsWith(".safetensors")
      ),
      ["model.safetensors"], // the 5GB default holds the fixture in one file
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export_adapter --for-llama-cpp writes rsLoRA as the equal plain scale, with the hub id", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_export_" });
  try {
    const model = join(dir, "model"), adapterDir = join(dir, "adapter"), out = join(dir, "gguf");
    const files = createFixtureModel({ seed: 4 });
    await writeModelFiles(model, files);
    // As download.ts leaves it: the folder knows its hub id.
    await Deno.writeTextFile(
      join(model, HUB_SOURCE_FILE),
      JSON.stringify({ source: "huggingface", model: "Org/Tiny-0.1B", revision: null }),
    );
    const { config } = await readCheckpoint(memoryModelSource("m", files));
    const rs = resolveLoraConfig({ r: 16, alpha: 32, useRslora: true, targetModules: ["v_proj"] });
    const adapter = randomAdapter(config, rs, 9);
    await writeModelFiles(adapterDir, serializePeftAdapter(adapter, config, model)); // a local path
    const run = await runExample("export_adapter", [
      ...["--adapter", adapterDir, "--model", model, "--out", out, "--for-llama-cpp", "--json"],
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      out,
      base_model: "Org/Tiny-0.1B",
      base_model_is_hub_id: true,
      rank: 16,
      lora_alpha: 128, // 32·√16
      use_rslora: false,
      rslora_converted: true,
    });
    const json = JSON.parse(await Deno.readTextFile(join(out, "adapter_config.json")));
    assert.equal(json.base_model_name_or_path, "Org/Tiny-0.1B");
    assert.equal(json.use_rslora, false);
    const exported = await readPeftAdapter(dirModelSource(out), config);
    assert.equal(loraScaleOf(exported.config), loraScaleOf(rs)); // 128/16 = 32/√16 = 8
    assert.deepEqual(exported.tensors, adapter.tensors);
    assert.match(await Deno.readTextFile(join(out, "README.md")), /base_model: Org\/Tiny-0\.1B/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
