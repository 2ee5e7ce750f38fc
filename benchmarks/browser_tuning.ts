/**
 * The load-time kernel choice in headless Chromium (WebGPU on SwiftShader, which has subgroups):
 * `--runs` fresh devices in one page, each tuned with a forced measurement, and each one's row
 * reductions timed in workgroup memory and in subgroups (`MatmulTuning.reductions`). Prints one
 * line per device and how often each choice won.
 *
 * ```sh
 * deno run -A benchmarks/browser_tuning.ts --runs 5
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { fail, numberFlag, runCommand } from "../examples/_cli.ts";
import { parseCommand } from "../examples/_flags.ts";
import { launchBrowser, openPage } from "../tests/browser/_browser.ts";
import type { BrowserTuning } from "./_browser_tuning_page.ts";

const flags = parseCommand(Deno.args, {
  name: "browser_tuning",
  path: "benchmarks/browser_tuning.ts",
  summary: "Tune fresh devices in headless Chromium and show the row reductions' timings.",
  usage: "[--runs N]",
  flags: { runs: { value: "N", help: "Fresh devices to tune (default 5)" } },
});

/** The page module bundled for the browser into `dir` (its entry: `_browser_tuning_page.js`). */
async function bundlePage(dir: string): Promise<void> {
  const entry = new URL("./_browser_tuning_page.ts", import.meta.url).pathname;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform=browser", "--code-splitting", "--outdir", dir, entry],
    stderr: "piped",
  }).output();
  if (code !== 0) fail(`deno bundle failed: ${new TextDecoder().decode(stderr)}`);
}

await runCommand(async () => {
  const runs = numberFlag(flags.runs, "--runs") ?? 5;
  if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a positive integer, got ${runs}`);
  const dir = await Deno.makeTempDir({ prefix: "webgpu-lora-tuning-" });
  await bundlePage(dir);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (!/^\/[\w-]+\.js$/.test(path)) return new Response("<!doctype html>", { status: 200 });
    const body = Deno.readFileSync(join(dir, path.slice(1)));
    return new Response(body, { headers: { "content-type": "text/javascript" } });
  });
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser, `http://127.0.0.1:${server.addr.port}/`);
    const results = await page.evaluate(async (n: number) => {
      const page = await import("/_browser_tuning_page.js");
      return await page.tuneFreshDevices(n);
    }, runs) as BrowserTuning[];
    const ms = (s: number) => (s * 1000).toFixed(1);
    for (const { adapterName, choice, reductions } of results) {
      const timed = reductions
        ? `workgroup memory ${ms(reductions.workgroup)} ms, subgroups ${ms(reductions.subgroup)} ms`
        : "no subgroups";
      const chosen = choice.subgroupReductions ? "subgroups" : "workgroup memory";
      console.log(`${adapterName}: row reductions ${timed}; chose ${chosen}`);
    }
    const subgroups = results.filter((r) => r.choice.subgroupReductions).length;
    console.log(`subgroups chosen in ${subgroups} of ${results.length} fresh tunings`);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
