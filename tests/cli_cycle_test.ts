/**
 * The command lines as a user runs them, on a fixture model written to a temporary folder:
 * train a few steps with --json (JSONL steps, a summary, the adapter, loss curve, log and
 * checkpoints), resume from a checkpoint to the same adapter, infer with the adapter unmerged
 * and merged (same greedy tokens), eval's JSON, and merge into a model folder that evaluates
 * like the adapter.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { dirModelSource, writeModelFiles } from "../lib/format/fs_model_source.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { readPeftAdapter } from "../lib/lora/peft_files.ts";
import { assertClose } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { type ExampleRun, runExample } from "./_run_example.ts";

const RECORDS = [
  { instruction: "sky?", output: "blue" },
  { instruction: "grass?", output: "green" },
  { instruction: "snow?", output: "white" },
  { instruction: "What is the capital of France?", output: "Paris." },
];
const STEP_KEYS = [
  "step",
  "total_steps",
  "epoch",
  "loss",
  "lr",
  "grad_norm",
  "tokens_per_second",
  "elapsed_seconds",
  "eta_seconds",
];

/** Asserts a zero exit status, showing stderr otherwise. */
function ok(run: ExampleRun): ExampleRun {
  assert.equal(run.code, 0, run.stderr);
  return run;
}

gpuTest(
  "train → resume → infer (unmerged and merged) → eval → merge from the command line",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "cli_cycle_" });
    try {
      const model = join(dir, "model"), data = join(dir, "data.json"), out = join(dir, "lora");
      const files = createFixtureModel({ dtype: "F32", seed: 1 });
      await writeModelFiles(model, files);
      await Deno.writeTextFile(data, JSON.stringify(RECORDS));
      const trainArgs = [
        ...["--model", model, "--data", data, "--max-steps", "3", "--batch-size", "2"],
        ...["--grad-accum", "1", "--lr", "1e-2", "--target", "q_proj,v_proj,down_proj"],
        ...["--checkpoint-every", "2", "--seed", "5", "--json"],
      ];
      const train = ok(await runExample("train", [...trainArgs, "--out", out]));
      const lines = train.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 4, train.stdout);
      assert.match(train.stderr, new RegExp(`Kept ${RECORDS.length} of ${RECORDS.length} records`));
      lines.slice(0, 3).forEach((line, i) => {
        assert.deepEqual(Object.keys(line), STEP_KEYS);
        assert.equal(line.step, i + 1);
        assert.equal(line.total_steps, 3);
        assert.ok(Number.isFinite(line.loss) && line.loss > 0);
      });
      const { summary } = lines[3];
      assert.equal(summary.steps, 3);
      assert.equal(summary.status, "completed");
      assert.equal(summary.final_loss, lines[2].loss);
      assert.ok(summary.tokens_per_second > 0 && summary.peak_gpu_bytes > 0);
      const log = (await Deno.readTextFile(join(out, "train_log.jsonl"))).trim().split("\n");
      assert.deepEqual(log.map((l) => JSON.parse(l)), lines.slice(0, 3));
      assert.match(
        await Deno.readTextFile(join(out, "loss_curve.svg")),
        /^<svg [^>]*>[\s\S]*<path d="M[^"]+"/,
      );
      const config = parseModelConfig(
        JSON.parse(new TextDecoder().decode(files.get("config.json"))),
      );
      const adapter = await readPeftAdapter(dirModelSource(out), config);
      assert.deepEqual(adapter.config.targetModules, ["q_proj", "v_proj", "down_proj"]);
      assert.equal(adapter.config.r, 16);
      for (
        const name of [
          "adapter_config.json",
          "adapter_model.safetensors",
          "optimizer.safetensors",
          "trainer_state.json",
        ]
      ) {
        assert.ok(
          (await Deno.stat(join(out, "checkpoint-2", name))).isFile,
          `checkpoint-2/${name}`,
        );
      }

      const resumedOut = join(dir, "resumed");
      const resumed = ok(
        await runExample("train", [
          ...trainArgs,
          "--out",
          resumedOut,
          "--resume",
          join(out, "checkpoint-2"),
        ]),
      );
      assert.equal(
        JSON.parse(resumed.stdout.trim().split("\n").at(-1)!).summary.final_loss,
        summary.final_loss,
      );
      assert.deepEqual(
        await Deno.readFile(join(resumedOut, "adapter_model.safetensors")),
        await Deno.readFile(join(out, "adapter_model.safetensors")),
        "resuming from checkpoint-2 ends with the same adapter",
      );
      // Resumed inside its own --out, the run continues its log: step 3 is appended after 1-3.
      ok(
        await runExample("train", [
          ...trainArgs,
          "--out",
          out,
          "--resume",
          join(out, "checkpoint-2"),
        ]),
      );
      const appended = (await Deno.readTextFile(join(out, "train_log.jsonl"))).trim().split("\n");
      assert.deepEqual(appended.map((l) => JSON.parse(l).step), [1, 2, 3, 3]);
      assert.match(
        await Deno.readTextFile(join(out, "README.md")),
        /^---\n(base_model: .*\n)?library_name: peft\n/,
      );
      // A fresh run into the non-empty --out is refused, and with --overwrite starts a new log.
      const refused = await runExample("train", [...trainArgs, "--out", out]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /is not empty: choose a new folder, or pass --overwrite/);

      const infer = async (extra: string[]) => {
        const args = [
          "--model",
          model,
          "--adapter",
          out,
          "--raw",
          "The capital of",
          "--temperature",
          "0",
        ];
        return JSON.parse(
          ok(await runExample("infer", [...args, "--max-tokens", "6", "--json", ...extra])).stdout,
        );
      };
      const unmerged = await infer([]), merged = await infer(["--merge"]);
      assert.equal(unmerged.completion_tokens, 6);
      assert.deepEqual(merged.tokens, unmerged.tokens);

      const evaluate = async (args: string[]) =>
        JSON.parse(ok(await runExample("eval", [...args, "--data", data, "--json"])).stdout);
      const adapted = await evaluate(["--model", model, "--adapter", out]);
      assert.deepEqual(Object.keys(adapted), ["loss", "tokens", "perplexity"]);
      assert.ok(Number.isInteger(adapted.tokens) && adapted.tokens > RECORDS.length);
      assertClose([adapted.perplexity], [Math.exp(adapted.loss)], { atol: 0, rtol: 1e-12 });

      const mergedDir = join(dir, "merged");
      ok(await runExample("merge", ["--model", model, "--adapter", out, "--out", mergedDir]));
      const mergedFiles = [...Deno.readDirSync(mergedDir)].map((e) => e.name).sort();
      assert.deepEqual(mergedFiles, [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      const mergedEval = await evaluate(["--model", mergedDir]);
      assert.equal(mergedEval.tokens, adapted.tokens);
      assertClose([mergedEval.loss], [adapted.loss], { atol: 0, rtol: 1e-5, label: "merged loss" });
      const base = await evaluate(["--model", model]);
      assert.ok(Math.abs(base.loss - adapted.loss) > 1e-4, "training changed the loss");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
