/**
 * The library's browser build in headless Chromium (WebGPU on SwiftShader, which has subgroups):
 * the load reports its choice of row reductions; then, with the subgroup reductions forced, the
 * golden models match PyTorch with and without their adapters, a short training run lowers the
 * loss and its PEFT files give the same logits in Deno (lavapipe: no subgroups), generation streams, the OPFS cache spares a reload
 * the download, and a model loads from another origin through Hugging Face-style redirects.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { createFixtureModel } from "../../lib/fixtures/fixture_model.ts";
import {
  type Gpu,
  loadModel,
  memoryModelSource,
  readPeftAdapter,
  writeModelFiles,
} from "../../mod.ts";
import { SUBGROUP_REDUCTION_KERNELS } from "../../lib/gpu/kernel_sources.ts";
import { assertClose, maxAbs } from "../_assert_close.ts";
import { GOLDEN, GOLDEN_MODELS, goldenExpected, type GoldenName } from "../_golden.ts";
import { browserTest, launchBrowser, openPage, screenshot, startWebServer } from "./_browser.ts";

type Lib = typeof import("../../mod.ts");

/** The models at /model/: the golden folder, and a tiny fixture with a tokenizer. */
async function modelFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "webgpu-lora-models-" });
  await Deno.symlink(GOLDEN.pathname, join(dir, "golden"));
  await writeModelFiles(join(dir, "fixture"), createFixtureModel({ seed: 3 }));
  return dir;
}

/**
 * A server shaped like Hugging Face's for `dir`: `/org/tiny/resolve/main/PATH` redirects (302) to
 * `/cdn/PATH`, and every answer allows any origin (CORS), as huggingface.co's do.
 */
function huggingFaceLike(dir: string): Deno.HttpServer<Deno.NetAddr> {
  const cors = { "access-control-allow-origin": "*" };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const resolve = /^\/org\/tiny\/resolve\/main\/([\w.-]+)$/.exec(path);
    if (resolve) {
      return new Response(null, {
        status: 302,
        headers: { ...cors, location: `/cdn/${resolve[1]}` },
      });
    }
    const file = /^\/cdn\/([\w.-]+)$/.exec(path);
    const bytes = file && await Deno.readFile(join(dir, file[1])).catch(() => null);
    if (!bytes) return new Response("Entry not found", { status: 404, headers: cors });
    return new Response(request.method === "HEAD" ? null : bytes, { headers: cors });
  });
}

/** tests/kernels/_reduction_cases.ts bundled for the browser, as JavaScript source. */
async function bundleReductionCases(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "webgpu-lora-cases-" });
  try {
    const out = join(dir, "reduction_cases.js");
    const cases = new URL("../kernels/_reduction_cases.ts", import.meta.url).pathname;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform=browser", "-o", out, cases],
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn(lib, ...args)` in the page, with the library imported from the build. */
function inPage<A extends unknown[], R>(
  page: Page,
  fn: (lib: Lib, gpu: Gpu, ...args: A) => Promise<R>,
  ...args: A
): Promise<R> {
  return page.evaluate(
    async (source: string, ...rest: unknown[]) => {
      const lib = await import(new URL("/dist/webgpu-lora.js", location.href).href);
      const page = globalThis as { testGpu?: Promise<unknown> };
      page.testGpu ??= lib.acquireGpu(); // one device per page: pipelines are built once
      return await (0, eval)(`(${source})`)(lib, await page.testGpu, ...rest);
    },
    fn.toString(),
    ...args,
  ) as Promise<R>;
}

/**
 * Makes the page's device run every row reduction in subgroups, whatever a measurement would
 * choose: set before it compiles anything, and marked set, so that loads keep it. The products
 * are SwiftShader's fast ones for prefill (blocked), and gemv_split for decode, whose partial
 * sums then add in subgroups too.
 */
function forceSubgroupReductions(page: Page): Promise<void> {
  return inPage(page, (_lib, gpu) => {
    const matmul = { small: "gemv_split", large: "blocked", fuseLoads: false } as const;
    Object.assign(gpu.kernels, { tuned: true, origin: "set" });
    gpu.kernels.matmul = { ...matmul, subgroupReductions: true };
    return Promise.resolve();
  });
}

browserTest(
  "the browser build runs the engine in Chromium: golden logits, training, streaming, OPFS, CORS",
  async () => {
    const models = await modelFolder();
    const server = await startWebServer({ modelDir: models });
    const hub = huggingFaceLike(join(models, "fixture"));
    const browser = await launchBrowser();
    try {
      const page = await openPage(browser, `${server.url}blank`); // any page of the origin

      // SwiftShader offers subgroups: a load on a device of its own measures the row
      // reductions both ways and reports the choice in its log line and kernel choices.
      const load = await inPage(page, async (lib) => {
        const gpu = await lib.acquireGpu();
        const lines: string[] = [];
        const m = await lib.loadModel(new URL("/model/fixture/", location.href), {
          gpu,
          log: (line: string) => lines.push(line),
        });
        m.dispose();
        gpu.device.destroy();
        return {
          lines,
          hasSubgroups: gpu.hasSubgroups,
          sizes: gpu.subgroupSizes,
          chosen: gpu.kernels.matmul.subgroupReductions,
          origin: gpu.kernels.origin,
        };
      });
      console.log(`SwiftShader: ${JSON.stringify(load)}`);
      assert.equal(load.hasSubgroups, true, "SwiftShader offers subgroups");
      assert.ok(load.sizes && load.sizes.min >= 1 && load.sizes.max >= load.sizes.min);
      assert.equal(load.origin, "measured");
      const reported = load.chosen ? "in subgroups" : "in workgroup memory";
      assert.ok(
        load.lines.some((l) => l.endsWith(`row reductions ${reported}`)),
        `the load's line reports the choice: ${load.lines}`,
      );

      // On the page's device every reduction runs in subgroups from here on. The row
      // reductions against the TypeScript references first (tests/kernels/_reduction_cases.ts,
      // bundled for the page; Deno runs the same cases in workgroup memory).
      await forceSubgroupReductions(page);
      const cases = await inPage(page, async (_lib, gpu, code: string) => {
        const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
        const checks: typeof import("../kernels/_reduction_cases.ts") = await import(url);
        return {
          cases: await checks.runReductionCases(gpu),
          kernels: gpu.pipelines.compiled.map((p) => p.kernel),
        };
      }, await bundleReductionCases());
      for (const { label, actual, expected, atol, rtol } of cases.cases) {
        assertClose(actual, expected, { atol, rtol, label: `${label} (subgroups)` });
      }
      for (const kernel of SUBGROUP_REDUCTION_KERNELS) {
        assert.ok(cases.kernels.includes(`${kernel}_subgroups`), `cases used ${cases.kernels}`);
      }

      // Every golden model, without and with its adapter, against PyTorch's logits.
      for (const name of Object.keys(GOLDEN_MODELS) as GoldenName[]) {
        const expected = await goldenExpected(name);
        const { model, adapter } = GOLDEN_MODELS[name];
        const started = performance.now();
        const got = await inPage(
          page,
          async (lib, gpu, model: string, adapter: string, ids: number[]) => {
            const url = (path: string) => new URL(`/model/golden/${path}/`, location.href);
            const m = await lib.loadModel(url(model), { gpu });
            const base = Array.from(await m.forward(ids));
            m.addAdapter(
              "golden",
              await lib.readPeftAdapter(lib.urlModelSource(url(adapter)), m.config),
            );
            const adapted = Array.from(await m.forward(ids, { adapter: "golden" }));
            m.dispose();
            return { base, adapted, gpu: gpu.adapterName };
          },
          model,
          adapter,
          expected.ids,
        );
        const errors = [
          [got.base, expected.logits_base],
          [got.adapted, expected.logits_with_adapter],
        ].map(([actual, want]) => {
          assertClose(actual, want, { atol: 1e-4 * maxAbs(want), rtol: 0, label: name });
          return Math.max(...actual.map((v, i) => Math.abs(v - want[i])));
        });
        console.log(
          `${name} on ${got.gpu}: max error ${errors[0].toExponential(1)} base, ` +
            `${errors[1].toExponential(1)} with adapter (${
              Math.round(performance.now() - started)
            } ms)`,
        );
      }

      // A short training run in the tab; its PEFT files come back to Deno, which reduces in
      // workgroup memory (lavapipe has no subgroups): same logits.
      const records = await Deno.readTextFile(
        new URL("../../examples/data/ruozhiba_sample.json", import.meta.url),
      );
      const ids = [1, 5, 9, 2, 7, 3];
      const trained = await inPage(
        page,
        async (lib, gpu, records: string, ids: number[]) => {
          const m = await lib.loadModel(new URL("/model/fixture/", location.href), { gpu });
          const data = lib.loadDataset(records);
          const { examples } = lib.tokenizeExamples(m.tokenizer, data.train.slice(0, 4), {
            maxLength: 48,
          });
          const run = lib.trainLora(m, examples, {
            lora: { r: 4, alpha: 8, dropout: 0 },
            maxSteps: 4,
            batchSize: 2,
            lr: 1e-2,
            logEvery: 1,
          });
          const losses: number[] = [];
          let result;
          while (!(result = await run.next()).done) {
            if (result.value.loss !== undefined) losses.push(result.value.loss);
          }
          const adapter = result.value.adapter;
          m.addAdapter("trained", adapter);
          const logits = Array.from(await m.forward(ids, { adapter: "trained" }));
          const files = lib.serializePeftAdapter(adapter, m.config, "fixture");
          m.dispose();
          return { losses, logits, files: [...files].map(([k, v]) => [k, Array.from(v)] as const) };
        },
        records,
        ids,
      );
      console.log(
        `training in the tab: loss ${trained.losses.map((l) => l.toFixed(3)).join(" → ")}`,
      );
      assert.equal(trained.losses.length, 4);
      assert.ok(trained.losses[3] < trained.losses[0], `loss did not fall: ${trained.losses}`);
      // Every reduction the golden models and the training compiled was a subgroup variant.
      const compiled = await inPage(
        page,
        (_lib, gpu) => Promise.resolve(gpu.pipelines.compiled.map((p) => p.kernel)),
      );
      const plain = compiled.filter((k) =>
        (SUBGROUP_REDUCTION_KERNELS as readonly string[]).includes(k)
      );
      assert.deepEqual(plain, [], `no reduction in workgroup memory: ${compiled}`);
      const fixture = await loadModel(join(models, "fixture"));
      try {
        const files = new Map(trained.files.map(([k, v]) => [k, new Uint8Array(v)]));
        fixture.addAdapter(
          "trained",
          await readPeftAdapter(memoryModelSource("tab", files), fixture.config),
        );
        const logits = await fixture.forward(ids, { adapter: "trained" });
        assertClose(logits, trained.logits, { atol: 1e-4 * maxAbs(trained.logits), rtol: 0 });
      } finally {
        fixture.dispose();
      }

      // Streaming: the deltas add up to the same greedy text as generate().
      const streamed = await inPage(page, async (lib, gpu) => {
        const m = await lib.loadModel(new URL("/model/fixture/", location.href), { gpu });
        const options = { maxTokens: 8, temperature: 0 };
        const deltas: string[] = [];
        for await (const delta of m.stream("Hello", options)) deltas.push(delta);
        const { text } = await m.generate("Hello", options);
        m.dispose();
        return { deltas, text };
      });
      assert.ok(streamed.deltas.length > 1, `one delta only: ${JSON.stringify(streamed.deltas)}`);
      assert.equal(streamed.deltas.join(""), streamed.text);

      // The OPFS cache: after a reload, the weights come from OPFS, not from the server.
      const weightRequests: string[] = [];
      page.on(
        "request",
        (r) => r.url().includes("/model/fixture/") && weightRequests.push(r.url()),
      );
      const loadCached = (lib: Lib, gpu: Gpu, ids: number[]) =>
        (async () => {
          const origin = lib.urlModelSource(new URL("/model/fixture/", location.href));
          const source = lib.cachedModelSource(origin, await lib.opfsFolder("test/fixture"));
          const m = await lib.loadModel(source, { gpu });
          const logits = Array.from(await m.forward(ids));
          m.dispose();
          return logits;
        })();
      const first = await inPage(page, loadCached, ids);
      assert.ok(weightRequests.some((u) => u.endsWith("model.safetensors")), `${weightRequests}`);
      weightRequests.length = 0;
      await page.reload();
      await forceSubgroupReductions(page); // the reloaded page's new device
      const second = await inPage(page, loadCached, ids);
      assert.deepEqual(weightRequests, []);
      assert.deepEqual(second, first);

      // Another origin that allows CORS, with Hugging Face's resolve/main/ URLs and redirects.
      const hubUrl = `http://127.0.0.1:${hub.addr.port}/org/tiny/resolve/main/`;
      const crossOrigin = await inPage(
        page,
        async (lib, gpu, url: string, ids: number[]) => {
          const m = await lib.loadModel(lib.urlModelSource(url), { gpu });
          const logits = Array.from(await m.forward(ids));
          m.dispose();
          return logits;
        },
        hubUrl,
        ids,
      );
      assert.deepEqual(crossOrigin, first);
      await screenshot(page, "library");
    } finally {
      await browser.close();
      await server.close();
      await hub.shutdown();
      await Deno.remove(models, { recursive: true });
    }
  },
);
