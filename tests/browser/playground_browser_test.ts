/// <reference lib="dom" />
/**
 * The playground, driven in headless Chromium as a user drives it: load the server's tiny model
 * into the tab, chat (in the tab, then through the server's OpenAI API), paste a data set, train
 * 10 steps, compare answers, save the adapter (the downloaded zip's PEFT files are checked), and
 * cancel a long run.
 * Screenshots of each stage go to tests/browser/artifacts/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "puppeteer-core";
import { createFixtureModel } from "../../lib/fixtures/fixture_model.ts";
import {
  memoryModelSource,
  parseModelConfig,
  readPeftAdapter,
  unzipFiles,
  writeModelFiles,
} from "../../mod.ts";
import { buildWeb } from "../../web/build.ts";
import { browserTest, launchBrowser, openPage, screenshot } from "./_browser.ts";

const ROOT = new URL("../../", import.meta.url);

/** Starts `server/main.ts` as `deno task serve` does, on a free port; resolves to its URL. */
async function startServer(modelDir: string) {
  await buildWeb(fileURLToPath(new URL("dist", ROOT)));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-no-legacy-abort",
      "server/main.ts",
      "--model",
      modelDir,
      "--port",
      "0",
      "--backend",
      "cpu",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!/Listening on (\S+)/.test(output)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`The server stopped: ${output}`);
    output += value;
  }
  lines.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { url: /Listening on (\S+)/.exec(output)![1], child };
}

/** Waits until the status line `id` says `pattern` (or fails on an error status). */
async function statusMatches(page: Page, id: string, pattern: RegExp): Promise<string> {
  await page.waitForFunction(
    (id: string, source: string) => {
      const el = document.getElementById(id)!;
      return new RegExp(source).test(el.textContent ?? "") || el.classList.contains("error");
    },
    { polling: 200 },
    id,
    pattern.source,
  );
  const text = await page.$eval(`#${id}`, (el) => el.textContent ?? "");
  assert.match(text, pattern);
  return text;
}

async function chat(page: Page, text: string, answers: number): Promise<string> {
  await page.type("#chat-input", text);
  await page.click("#chat-send");
  await page.waitForFunction(
    (n: number) => document.querySelectorAll(".assistant.done").length === n,
    { polling: 200 },
    answers,
  );
  return await page.$$eval(".assistant", (els) => els.at(-1)!.textContent ?? "");
}

browserTest(
  "the playground: load the server's model, chat, train 10 steps, save the adapter, cancel",
  async () => {
    const modelDir = await Deno.makeTempDir({ prefix: "webgpu-lora-model-" });
    const downloads = await Deno.makeTempDir({ prefix: "webgpu-lora-downloads-" });
    const files = createFixtureModel({ seed: 5 });
    await writeModelFiles(modelDir, files);
    const server = await startServer(modelDir);
    const browser = await launchBrowser();
    try {
      const page = await openPage(browser, server.url);
      await statusMatches(page, "gpu-status", /^GPU: .*largest storage binding \d+ MiB/);
      await screenshot(page, "1-start");

      await page.click("#load-model");
      await statusMatches(
        page,
        "model-status",
        /^Loaded .*: llama, [\d.]+ M parameters.*The model fits/,
      );
      assert.ok((await chat(page, "Hello", 1)).length > 0, "no answer in the tab");
      await page.click("#use-server");
      assert.ok((await chat(page, "Hello", 2)).length > 0, "no answer from the server");
      await page.click("#use-server");
      await screenshot(page, "2-chat");

      const records = await Deno.readTextFile(new URL("examples/data/ruozhiba_sample.json", ROOT));
      await page.$eval(
        "#data-text",
        (el, text) => (el as HTMLTextAreaElement).value = text,
        records,
      );
      await page.click("#data-check");
      await statusMatches(page, "data-report", /^Format: alpaca; \d+ training and 0 validation/);
      await screenshot(page, "3-data");

      const settings = [["#train-steps", "10"], ["#train-max-length", "64"], ["#train-lr", "0.01"]];
      for (const [id, value] of settings) {
        await page.$eval(id, (el, v) => (el as HTMLInputElement).value = v, value);
      }
      await page.click("#train-start");
      const done = await statusMatches(page, "train-status", /^Done after 10 steps: loss/);
      const [first, last] = /loss ([\d.]+) → ([\d.]+)/.exec(done)!.slice(1).map(Number);
      console.log(`playground training: loss ${first} → ${last}`);
      assert.ok(last < first, done);
      assert.equal(
        await page.$eval("#train-progress", (el) => (el as HTMLProgressElement).value),
        10,
      );
      assert.ok(await page.$("#loss-curve svg"), "no loss curve");
      const [before, after] = await Promise.all(
        ["#answer-before", "#answer-after"].map((id) => page.$eval(id, (el) => el.textContent)),
      );
      assert.ok(before && after, "the comparison lacks an answer");
      await screenshot(page, "4-trained");

      const cdp = await page.createCDPSession();
      await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
      await page.click("#save-zip");
      const zipPath = join(downloads, "my-adapter.zip");
      for (let i = 0; i < 100 && !(await Deno.stat(zipPath).catch(() => null)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const adapterFiles = unzipFiles(await Deno.readFile(zipPath));
      assert.deepEqual([...adapterFiles.keys()].sort(), [
        "README.md", // PEFT's model card
        "adapter_config.json",
        "adapter_model.safetensors",
      ]);
      assert.match(new TextDecoder().decode(adapterFiles.get("README.md")), /library_name: peft/);
      const config = parseModelConfig(
        JSON.parse(new TextDecoder().decode(files.get("config.json"))),
      );
      const adapter = await readPeftAdapter(memoryModelSource("zip", adapterFiles), config);
      assert.equal(adapter.config.r, 8);
      await page.click("#save-opfs");
      await statusMatches(page, "save-status", /^Saved in this browser's private storage/);
      await screenshot(page, "5-saved");

      // Cancel: a long run stops after the step under way, and its adapter is kept.
      await page.$eval("#train-steps", (el) => (el as HTMLInputElement).value = "1000");
      await page.click("#train-start");
      await statusMatches(page, "train-status", /^Step \d+\/\d+,/);
      await page.click("#train-cancel");
      await statusMatches(page, "train-status", /^Cancelled after \d+ steps: loss/);
    } finally {
      await browser.close();
      server.child.kill("SIGTERM");
      await server.child.status;
      await Deno.remove(modelDir, { recursive: true });
      await Deno.remove(downloads, { recursive: true });
    }
  },
);

browserTest(
  "the playground says clearly when WebGPU is missing and when a model does not fit",
  async () => {
    const modelDir = await Deno.makeTempDir({ prefix: "webgpu-lora-model-" });
    await writeModelFiles(modelDir, createFixtureModel({ seed: 5 }));
    const server = await startServer(modelDir);
    const browser = await launchBrowser();
    try {
      const noGpu = await browser.newPage();
      await noGpu.evaluateOnNewDocument(() => {
        Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
      });
      await noGpu.goto(server.url);
      await statusMatches(noGpu, "gpu-status", /^WebGPU is not available in this browser/);
      assert.equal(
        await noGpu.$eval("#use-server", (el) => (el as HTMLInputElement).checked),
        true,
      );
      await screenshot(noGpu, "no-webgpu");

      const page = await openPage(browser, server.url);
      await statusMatches(page, "gpu-status", /^GPU: /);
      await page.$eval("#budget", (el) => (el as HTMLInputElement).value = "0.001"); // 1 MiB
      await page.click("#load-model");
      await statusMatches(
        page,
        "model-status",
        /^The model does not fit: it needs \d+\.\d MiB to generate and \d+\.\d MiB to train, more than the budget of 1\.0 MiB$/,
      );
    } finally {
      await browser.close();
      server.child.kill("SIGTERM");
      await server.child.status;
      await Deno.remove(modelDir, { recursive: true });
    }
  },
);
