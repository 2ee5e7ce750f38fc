/**
 * The GPU kit's dry run on this machine's adapter (lavapipe in CI): the pack builds and fits
 * the device tool's budget, `run.sh --dry-run` unpacks it and writes results, `report.ts` turns
 * them into BENCHMARKS.md's gpu block; and without NVIDIA's driver a real run refuses to start.
 * No timing is asserted.
 */
import assert from "node:assert/strict";
import { gpuTest } from "../../tests/_gpu.ts";
import { loadKernels } from "./_gpu_results.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Runs a command in the repository root; its exit code and output. */
async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(cmd, { args, env, cwd: repoRoot })
    .output();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

gpuTest("the GPU kit packs, dry-runs on this adapter, and reports", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "benchkit-test-" });
  try {
    const kit = `${tmp}/kit`;
    const pack = await sh(Deno.execPath(), [
      "run",
      "-A",
      "benchmarks/device/pack.ts",
      "--out",
      kit,
      "--xz-level",
      "0",
    ]);
    assert.equal(pack.code, 0, pack.err);
    const manifest = JSON.parse(await Deno.readTextFile(`${kit}/manifest.json`));
    assert.ok(manifest.files.includes("deno.xz") && manifest.files.includes("gpu_bench.js.xz"));
    assert.ok(!manifest.files.includes("gpu_bench.js"), "the uncompressed bundle is removed");
    assert.ok(manifest.debs.some((d: string) => d.startsWith("libvulkan1_")), manifest.debs);
    assert.ok(manifest.packBytes + manifest.workingTreeBytes <= 64 * 2 ** 20);

    const out = `${tmp}/out`;
    const env = { BENCHKIT: kit, OUT: out, XDG_RUNTIME_DIR: "/tmp" };
    const noDriver = await sh("bash", ["benchmarks/device/run.sh"], env);
    const hasNvidia = noDriver.out.includes("Vulkan driver: NVIDIA");
    if (!hasNvidia) {
      assert.equal(noDriver.code, 3, noDriver.err);
      assert.match(noDriver.err, /no NVIDIA Vulkan driver/);
    }

    // The packed loader, as on a machine without one.
    const run = await sh("bash", ["benchmarks/device/run.sh", "--dry-run"], {
      ...env,
      BENCHKIT_PACKED_LOADER: "1",
    });
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /Vulkan loader: packed \(7 packages\)/);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.ok(["gemv", "gemv_split", "blocked", "tiled"].includes(results.tuning.choice.small));
    const kernels = loadKernels(results.kernels);
    assert.deepEqual(kernels.map((k) => k.kase.name).sort(), [
      "lora down 512×2048→16",
      "rmsnorm 512×2048",
    ]);
    assert.ok(kernels.every((k) => k.ours! > 0));
    const e2e = results.endToEnd;
    assert.equal(e2e.label, "tiny");
    assert.equal(e2e.plan.promptTokens, 16);
    assert.ok(e2e.prefill.seconds > 0 && e2e.generate.seconds > e2e.prefill.seconds);
    assert.ok(e2e.train.traffic.dispatches > 0 && e2e.generate.traffic.dispatches > 0);
    assert.ok(e2e.forward.seconds > 0 && e2e.forward.traffic.dispatches > 0);
    const batched = results.batchedDecode;
    assert.equal(batched.one.streams, 1);
    assert.equal(batched.batched.streams, 4);
    // Greedy on a random model: a stream may end early at an EOS, so tokens are at most 4 × 4.
    assert.ok(
      batched.batched.tokens > 0 && batched.batched.tokens <= 16,
      `${batched.batched.tokens}`,
    );
    assert.ok(batched.batched.seconds > 0);
    // lavapipe has timestamp-query, so the kit profiles a decode step at 1 and at 4 rows.
    assert.deepEqual(batched.steps.map((s: { rows: number }) => s.rows), [1, 4]);
    for (const step of batched.steps) {
      const products = step.productSeconds > 0 && step.productSeconds <= step.gpuSeconds;
      assert.ok(products && step.productGflops > 0, JSON.stringify(step));
    }
    // The one row is on the base model; two of the four are on adapters, so BGMV runs.
    assert.ok(batched.steps[1].loraSeconds > 0, JSON.stringify(batched.steps[1]));
    const resultsMd = await Deno.readTextFile(`${out}/results.md`);
    assert.match(resultsMd, /^## On a GPU/);
    assert.match(resultsMd, /products GFLOP\/s/);
    assert.match(await Deno.readTextFile(`${out}/run.log`), /Wrote .*results\.json/);

    const benchmarks = `${tmp}/BENCHMARKS.md`;
    await Deno.writeTextFile(benchmarks, "# Benchmarks\n\nmain's text\n");
    const report = await sh(Deno.execPath(), [
      "run",
      "-A",
      "benchmarks/device/report.ts",
      "--results",
      out,
      "--peak-gb-s",
      "100",
      "--peak-gflop-s",
      "1000",
      "--out",
      benchmarks,
    ]);
    assert.equal(report.code, 0, report.err);
    const markdown = await Deno.readTextFile(benchmarks);
    assert.ok(markdown.startsWith("# Benchmarks\n\nmain's text\n\n<!-- begin gpu -->\n"));
    assert.match(markdown, /### Against the machine's limits/);
    for (const phase of ["decode", "prefill", "training"]) {
      assert.match(markdown, new RegExp(`\\| tiny \\| ${phase} \\| [\\d.]+ \\| [\\d.]+ \\|`));
    }
    assert.match(markdown, /dispatches per decoded token/);
    assert.match(markdown, /tiny: the training's forward alone .* training ÷ forward [\d.]+ /);
    assert.match(markdown, /\| tiny \| 4 \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+× \|/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("report.ts refuses a folder without a kit's results.json, clearly", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${tmp}/results.json`, JSON.stringify({ command: 1 }));
    const bad = await sh(Deno.execPath(), [
      "run",
      "-A",
      "benchmarks/device/report.ts",
      "--results",
      tmp,
      "--out",
      `${tmp}/B.md`,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /is not a GPU kit result/);
    const missing = await sh("bash", ["benchmarks/device/run.sh"], {
      BENCHKIT: `${tmp}/none`,
      OUT: `${tmp}/out`,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.err, /run deno task bench:pack first/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("saved kernel results name known cases only", () => {
  assert.throws(
    () => loadKernels([{ name: "no such case", variants: {} }]),
    /names kernel case "no such case"/,
  );
});
