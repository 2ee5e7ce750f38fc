/**
 * Writes a random model in Hugging Face format into a folder, for tests and demos: a tiny
 * Llama, or exactly the config of Llama-3.2-1B, Qwen2.5-0.5B-Instruct or Qwen3-0.6B.
 *
 * ```sh
 * deno run -A examples/make_fixture.ts --out DIR \
 *   [--preset tiny|llama-8x1024|llama-3.2-1b|qwen2.5-0.5b|qwen3-0.6b] [--dtype bf16|f32] \
 *   [--tokenizer small|llama3|qwen3] [--seed N] [--shard-bytes N]
 * ```
 *
 * @module
 */
// Not in mod.ts: the fixtures carry the real tokenizers (9 MB and more), which mod.ts must not load.
import { createFixtureModel, type FixtureOptions } from "../lib/fixtures/fixture_model.ts";
import { modelParameterCount, parseModelConfig, writeModelFiles } from "../mod.ts";
import { parseCommand, usageLine } from "./_flags.ts";

const command = {
  name: "make_fixture",
  summary: "Write a random model in Hugging Face format, for tests and demos.",
  usage: "--out DIR [options]",
  flags: {
    out: { value: "DIR", help: "The model folder to write" },
    preset: {
      value: "tiny|llama-8x1024|llama-3.2-1b|qwen2.5-0.5b|qwen3-0.6b",
      help: "The shape (default tiny)",
    },
    dtype: { value: "bf16|f32", help: "Weights dtype (default bf16)" },
    tokenizer: { value: "small|llama3|qwen3", help: "The tokenizer (default the preset's)" },
    seed: { value: "N", help: "Seed of the random weights (default 0)" },
    "shard-bytes": { value: "N", help: "Split the weights into shards of at most N bytes" },
  },
} as const;

/** Parses the command line into fixture options and the output folder. */
function parseCommandLine(args: string[]): { out: string; options: FixtureOptions } {
  const values = parseCommand(args, command);
  if (values.out === undefined) throw new Error(`Missing --out\n${usageLine(command)}`);
  const integer = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) {
      throw new Error(`--${flag} must be an integer, got ${JSON.stringify(text)}`);
    }
    return n;
  };
  return {
    out: values.out,
    options: {
      preset: values.preset as FixtureOptions["preset"],
      dtype: values.dtype?.toUpperCase() as FixtureOptions["dtype"],
      tokenizer: values.tokenizer as FixtureOptions["tokenizer"],
      seed: integer("seed", values.seed),
      shardBytes: integer("shard-bytes", values["shard-bytes"]),
    },
  };
}

/** Generates, writes and reports the fixture. */
async function main(args: string[]): Promise<void> {
  const { out, options } = parseCommandLine(args);
  const start = performance.now();
  const files = createFixtureModel(options);
  const generated = performance.now();
  await writeModelFiles(out, files);
  const written = performance.now();
  const config = parseModelConfig(JSON.parse(new TextDecoder().decode(files.get("config.json"))));
  let total = 0;
  for (const [name, bytes] of files) {
    console.log(`${name.padEnd(36)} ${bytes.length.toLocaleString("en-US").padStart(16)} bytes`);
    total += bytes.length;
  }
  console.log(
    `Wrote ${files.size} files, ${total.toLocaleString("en-US")} bytes, ` +
      `${modelParameterCount(config).toLocaleString("en-US")} parameters (${config.torchDtype}) ` +
      `to ${out}: generated in ${((generated - start) / 1000).toFixed(1)} s, written in ` +
      `${((written - generated) / 1000).toFixed(1)} s`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
