/**
 * Random fixture models on disk for the benchmarks, written by `examples/make_fixture.ts` into
 * ./model_cache the first time a benchmark needs one (the 1B preset is 2.5 GB).
 *
 * @module
 */
import type { FixturePreset } from "../lib/fixtures/fixture_model.ts";

/** Where the benchmarks keep the fixture of `preset`. */
export function fixtureDir(preset: FixturePreset): string {
  return `./model_cache/fixture-${preset}`;
}

/**
 * Writes the fixture of `preset` into `dir` with examples/make_fixture.ts (a process of its
 * own, so the generator's memory is returned) unless `dir` has a config.json already.
 */
export async function ensureFixture(
  dir: string,
  preset: FixturePreset,
  log: (message: string) => void,
): Promise<void> {
  const exists = await Deno.stat(`${dir}/config.json`).then(() => true, () => false);
  if (exists) return;
  log(`Creating ${dir} with examples/make_fixture.ts --preset ${preset}`);
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../examples/make_fixture.ts", import.meta.url).pathname,
      "--out",
      dir,
      "--preset",
      preset,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`examples/make_fixture.ts failed to create ${dir}`);
}
