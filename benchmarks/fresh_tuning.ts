/**
 * Does the load-time kernel choice repeat? Runs `tuneMatmul` with a forced measurement (no
 * cache) in `--runs` fresh processes, one after another, and counts the choices. It exits 1
 * unless every process chose the same. Each process prints one JSON line (`--child`).
 *
 * ```sh
 * deno run -A benchmarks/fresh_tuning.ts --runs 20
 * ```
 *
 * @module
 */
import { fail, numberFlag, runCommand } from "../examples/_cli.ts";
import { parseCommand } from "../examples/_flags.ts";
import { acquireGpu } from "../lib/gpu/device.ts";
import { tuneMatmul } from "../lib/ops/matmul_tuning.ts";

const flags = parseCommand(Deno.args, {
  name: "fresh_tuning",
  path: "benchmarks/fresh_tuning.ts",
  summary: "Tune the matmul variants in fresh processes and count how often each choice wins.",
  usage: "[--runs N]",
  flags: {
    runs: { value: "N", help: "Fresh processes to run (default 20)" },
    child: { type: "boolean", help: "Internal: run one tuning and print it as JSON" },
  },
});

/** One fresh process: its choice and the seconds the measurement took. */
async function child(): Promise<void> {
  const gpu = await acquireGpu();
  const start = performance.now();
  const tuning = await tuneMatmul(gpu, { force: true, cache: null });
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ choice: tuning.choice, timings: tuning.timings, seconds }));
}

async function parent(runs: number): Promise<void> {
  if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer, got ${runs}`);
  const counts = new Map<string, number>();
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "--child"],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!output.success) throw new Error(`Run ${i + 1} failed with code ${output.code}`);
    const line = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!;
    const result = JSON.parse(line);
    const key = JSON.stringify(result.choice);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    seconds.push(result.seconds);
    console.log(`run ${i + 1}/${runs}: ${key} in ${result.seconds.toFixed(1)} s`);
  }
  for (const [key, n] of counts) console.log(`${n}/${runs} chose ${key}`);
  const sorted = seconds.toSorted((a, b) => a - b);
  console.log(
    `tuning seconds: min ${sorted[0].toFixed(1)}, median ${
      sorted[Math.floor(runs / 2)].toFixed(1)
    }, max ${sorted[runs - 1].toFixed(1)}`,
  );
  if (counts.size !== 1) throw new Error(`${counts.size} different choices in ${runs} runs`);
}

await runCommand(() => flags.child ? child() : parent(numberFlag(flags.runs, "runs", 20)));
