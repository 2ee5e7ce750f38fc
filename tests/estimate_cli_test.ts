/**
 * examples/estimate.ts as a user runs it: `--json` prints the same breakdowns as the library
 * for the settings given (from a model folder holding only config.json, or a config file), the
 * table names every category, and bad command lines exit 2 with the usage.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  estimateInference,
  estimateTraining,
  type MemoryBreakdown,
} from "../lib/estimate/estimate_memory.ts";
import { fixtureConfig } from "../lib/fixtures/fixture_model.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { loraParameterCount } from "../lib/lora/lora_weights.ts";

const SCRIPT = new URL("../examples/estimate.ts", import.meta.url).pathname;

async function runEstimate(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const RAW = fixtureConfig({ preset: "llama-3.2-1b" });
const CONFIG = parseModelConfig(RAW);

Deno.test("estimate --json from a model folder with only config.json matches the library", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(RAW));
    const { code, stdout, stderr } = await runEstimate([
      "--model",
      dir,
      "--batch-size",
      "2",
      "--max-length",
      "256",
      "--rank",
      "8",
      "--target",
      "q_proj,v_proj,down_proj",
      "--optimizer",
      "sgd",
      "--max-context",
      "1024",
      "--kv-cache",
      "f16",
      "--grad-checkpoint",
      "--json",
    ]);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    const lora = resolveLoraConfig({ r: 8, targetModules: ["q_proj", "v_proj", "down_proj"] });
    const settings = { lora, batchSize: 2, seqLen: 256, optimizer: "sgd" as const };
    // snake_case keys, as every command's JSON.
    const snake = ({ kvCache, ...rest }: MemoryBreakdown) => ({ ...rest, kv_cache: kvCache });
    assert.deepEqual(out.training, {
      without_checkpointing: snake(
        estimateTraining(CONFIG, { ...settings, gradCheckpoint: false }),
      ),
      with_checkpointing: snake(estimateTraining(CONFIG, { ...settings, gradCheckpoint: true })),
    });
    assert.deepEqual(
      out.inference,
      snake(estimateInference(CONFIG, { maxContext: 1024, lora, kvCacheDtype: "f16" })),
    );
    assert.equal(out.lora_parameters, loraParameterCount(CONFIG, lora));
    assert.deepEqual(out.settings, {
      batch_size: 2,
      max_length: 256,
      rank: 8,
      target_modules: ["q_proj", "v_proj", "down_proj"],
      optimizer: "sgd",
      grad_checkpoint: true,
      max_context: 1024,
      kv_cache_dtype: "f16",
    });
    assert.equal(out.model.weights_dtype, "BF16");
    assert.equal(out.model.layers, 16);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("estimate prints a table for --config with defaults and a --dtype override", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "llama.json");
    await Deno.writeTextFile(file, JSON.stringify(RAW));
    const { code, stdout, stderr } = await runEstimate(["--config", file, "--dtype", "f32"]);
    assert.equal(code, 0, stderr);
    for (
      const row of [
        "weights (F32)",
        "LoRA parameters",
        "LoRA gradients",
        "optimizer state",
        "activations",
        "KV cache",
        "workspace",
        "total",
      ]
    ) {
      assert.match(stdout, new RegExp(`^${row.replace(/[()]/g, "\\$&")}\\s`, "m"), row);
    }
    assert.match(stdout, /training \*/); // the default run does not checkpoint
    assert.match(stdout, /2,359,296 trainable parameters/); // r=16 on q, k, v of Llama-3.2-1B
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("estimate exits 2 with the usage on bad command lines", async () => {
  for (
    const args of [
      ["--config", "x.json", "--bogus"],
      [],
      ["--model", "a", "--config", "b"],
      ["--config", "x.json", "--optimizer", "lion"],
      ["--config", "x.json", "--batch-size", "0"],
      ["--config", "x.json", "--target", "qkv"],
    ]
  ) {
    const { code, stderr } = await runEstimate(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.ok(stderr.length > 0, args.join(" "));
  }
  const unknown = await runEstimate(["--config", "x.json", "--bogus"]);
  assert.match(unknown.stderr, /Usage: deno run -A examples\/estimate\.ts/);
  const missing = await runEstimate(["--model", "/nonexistent-model-dir"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read the config \/nonexistent-model-dir\/config\.json/);
});
