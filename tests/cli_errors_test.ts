/**
 * Bad command lines and bad input files give clear messages, not stack traces: a bad flag
 * exits 2 with the usage, a missing model or adapter folder exits 2 naming it, and an empty
 * data file, a corrupt adapter or an adapter for another model exit 1 with the problem.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFixtureModel, fixtureConfig } from "../lib/fixtures/fixture_model.ts";
import { writeModelFiles } from "../lib/format/fs_model_source.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { ADAPTER_WEIGHTS, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { gpuTest } from "./_gpu.ts";
import { randomAdapter } from "./_lora_fixture.ts";
import { type ExampleRun, runExample } from "./_run_example.ts";

const dir = await Deno.makeTempDir({ prefix: "cli_errors_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const model = join(dir, "model"), data = join(dir, "data.json"), missing = join(dir, "missing");
await writeModelFiles(model, createFixtureModel({ dtype: "F32" }));
await Deno.writeTextFile(
  data,
  JSON.stringify([{ instruction: "Why is the sky blue?", output: "Air scatters blue light." }]),
);
const lora = resolveLoraConfig({ r: 2 });
const wider = parseModelConfig(fixtureConfig({ overrides: { hidden_size: 96, head_dim: 24 } }));
const otherModel = join(dir, "other_adapter"), corrupt = join(dir, "corrupt_adapter");
const otherFiles = serializePeftAdapter(randomAdapter(wider, lora, 1), wider, "other");
await writeModelFiles(otherModel, otherFiles);
const truncated = otherFiles.get(ADAPTER_WEIGHTS)!.subarray(0, 100);
await writeModelFiles(corrupt, new Map([...otherFiles, [ADAPTER_WEIGHTS, truncated]]));

/** Asserts the exit status and a message on stderr without a stack trace. */
function assertFails(run: ExampleRun, code: number, message: RegExp): void {
  assert.equal(run.code, code, run.stderr);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
}

Deno.test("a bad flag exits 2 with the usage", async () => {
  assertFails(
    await runExample("train", ["--model", model, "--bogus", "1"]),
    2,
    /Unknown flag --bogus\n\nUsage: deno run -A examples\/train\.ts/,
  );
  assertFails(
    await runExample("train", ["--model", model, "--data", data, "--optimizer", "adam"]),
    2,
    /Unknown --optimizer adam: expected adamw or sgd/,
  );
  assertFails(
    await runExample("infer", ["--model", model, "--prompt", "a", "--kv-cache", "bf16"]),
    2,
    /Unknown --kv-cache bf16: expected f32 or f16/,
  );
  assertFails(
    await runExample("eval", ["--model", model]),
    2,
    /--data is required\n\nUsage: deno run -A examples\/eval\.ts/,
  );
  assertFails(
    await runExample("eval", ["--model", model, "--data", data, "--train-on", "prompt"]),
    2,
    /Unknown --train-on prompt/,
  );
  assertFails(
    await runExample("merge", ["--model", model, "--out", join(dir, "m")]),
    2,
    /--adapter is required\n\nUsage: deno run -A examples\/merge\.ts/,
  );
  assertFails(
    await runExample("infer", ["--model", model, "--prompt", "a", "--raw", "b"]),
    2,
    /Give exactly one of --prompt or --raw/,
  );
});

Deno.test("--chat-template-kwargs must be a JSON object and goes with --chat", async () => {
  assertFails(
    await runExample("train", ["--model", model, "--data", data, "--chat-template-kwargs", "{x"]),
    2,
    /^--chat-template-kwargs is not valid JSON \(.*\): \{x/,
  );
  assertFails(
    await runExample("eval", ["--model", model, "--data", data, "--chat-template-kwargs", "[1]"]),
    2,
    /^--chat-template-kwargs: Chat template kwargs must be a JSON object of template variables, got \[1\]/,
  );
  const infer = (...args: string[]) => runExample("infer", ["--model", model, ...args]);
  assertFails(
    await infer("--chat", "--prompt", "a", "--chat-template-kwargs", '{"messages": []}'),
    2,
    /must not set messages/,
  );
  assertFails(
    await infer("--prompt", "a", "--chat-template-kwargs", "{}"),
    2,
    /^--chat-template-kwargs needs --chat/,
  );
  assertFails(await infer("--raw", "a", "--chat"), 2, /^--chat needs --prompt/);
});

Deno.test("a missing model or adapter folder is named", async () => {
  assertFails(
    await runExample("train", ["--model", missing, "--data", data]),
    2,
    new RegExp(`^Model folder ${missing} not found`),
  );
  assertFails(
    await runExample("eval", ["--model", missing, "--data", data]),
    2,
    /^Model folder .*missing not found/,
  );
  assertFails(
    await runExample("infer", ["--model", model, "--adapter", missing, "--prompt", "a"]),
    2,
    /^Adapter folder .*missing not found/,
  );
  assertFails(
    await runExample("merge", ["--model", model, "--adapter", model, "--out", join(dir, "m")]),
    2,
    /^Adapter folder .*model has no adapter_config\.json/,
  );
});

Deno.test("merge refuses an adapter for another model, a corrupt adapter and a non-model output folder", async () => {
  const out = join(dir, "merged");
  assertFails(
    await runExample("merge", ["--model", model, "--adapter", otherModel, "--out", out]),
    1,
    /^Adapter ".*other_adapter" does not fit the model \(12 problems\):\n {2}base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[2, 96\], expected \[2, 64\]/,
  );
  assertFails(
    await runExample("merge", ["--model", model, "--adapter", corrupt, "--out", out]),
    1,
    /corrupt_adapter\/adapter_model\.safetensors/,
  );
  assertFails(
    await runExample("merge", ["--model", model, "--adapter", otherModel, "--out", dir]),
    2,
    /Output folder .* is not empty: choose a new folder, or pass --overwrite/,
  );
  assertFails(
    await runExample("merge", [
      "--model",
      model,
      "--adapter",
      otherModel,
      "--out",
      dir,
      "--overwrite",
    ]),
    2,
    /exists and is not a model folder/,
  );
  assertFails(
    await runExample("merge", [
      "--model",
      model,
      "--adapter",
      otherModel,
      "--out",
      join(missing, "m"),
    ]),
    2,
    /--out .*: its parent folder .*missing does not exist/,
  );
  assertFails(
    await runExample("merge", ["--model", model, "--adapter", otherModel, "--out", data]),
    2,
    /--out .*data\.json is a file, not a folder/,
  );
  assert.ok(!(await Deno.stat(out).then(() => true, () => false)), "nothing written");
});

gpuTest(
  "an empty data file is a clear error; records longer than --max-length are reported",
  async () => {
    const empty = join(dir, "empty.jsonl");
    await Deno.writeTextFile(empty, "");
    assertFails(
      await runExample("train", ["--model", model, "--data", empty, "--out", join(dir, "o")]),
      1,
      /^Data set .*empty\.jsonl has no records/m, // after the kernel-choice line
    );
    // Options refused once the model is loaded leave no --out folder behind.
    for (const bad of [["--rank", "0"], ["--lr=-1"]]) {
      const o = join(dir, "never");
      assertFails(
        await runExample("train", ["--model", model, "--data", data, "--out", o, ...bad]),
        1,
        /LoRA rank 0 must be a positive integer|Learning rate -1 must be positive/,
      );
      assert.ok(!(await Deno.stat(o).then(() => true, () => false)), `${bad}: no --out folder`);
    }
    const short = await runExample("eval", [
      "--model",
      model,
      "--data",
      data,
      "--max-length",
      "16",
    ]);
    assert.equal(short.code, 0, short.stderr);
    assert.match(
      short.stdout,
      /over 4 label tokens of 1 examples \(1 truncated to 16 tokens, 0 dropped\)/,
    );
    assertFails(
      await runExample("eval", ["--model", model, "--data", data, "--max-length", "12"]),
      1,
      /No trainable examples: all 1 prompts fill maxLength 12/,
    );
  },
);

Deno.test("train.ts with a learning rate that diverges exits 1 naming the step, and saves no adapter", async () => {
  const out = join(dir, "diverged");
  assertFails(
    await runExample("train", [
      "--model",
      model,
      "--data",
      data,
      "--out",
      out,
      "--lr",
      "1e30",
      "--max-grad-norm",
      "0",
      "--max-steps",
      "6",
      "--batch-size",
      "1",
      "--grad-accum",
      "1",
      "--log-every",
      "1",
    ]),
    1,
    /^Training diverged at step \d+: loss (NaN|-?Infinity), gradient norm/m,
  );
  await assert.rejects(Deno.stat(join(out, ADAPTER_WEIGHTS)), Deno.errors.NotFound);
});
