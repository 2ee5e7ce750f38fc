/**
 * Browser tests: headless Chromium (Debian's `chromium-headless-shell`, with WebGPU on
 * SwiftShader) driven by npm `puppeteer-core`, and a local server for the build and the models.
 * Without the browser the tests are registered as ignored, and with `REQUIRE_GPU=1` (CI) they
 * fail instead.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { buildWeb } from "../../web/build.ts";
import { webRoutes, type WebRoutesOptions } from "../../server/web_routes.ts";

/** The browser binary: `$CHROMIUM_PATH`, else the one Debian's package puts on PATH. */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium-headless-shell";

/** WebGPU on, and nothing that reaches the network on its own. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const present = await Deno.stat(CHROMIUM).then(() => true, () => false);
const required = Deno.env.get("REQUIRE_GPU") === "1";

/** Where the tests save screenshots. */
export const ARTIFACTS = new URL("./artifacts/", import.meta.url);

/** Registers a test that needs Chromium: ignored without it, failed without it in CI. */
export function browserTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !present && !required,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/** Starts headless Chromium with WebGPU. */
export async function launchBrowser(): Promise<Browser> {
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: "shell",
    args: CHROMIUM_ARGS,
    protocolTimeout: 10 * 60_000, // SwiftShader's first training step builds every pipeline
  });
}

/** A page whose console and errors are echoed to the test's output. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  page.on("console", (message) => console.log(`[page] ${message.text()}`));
  page.on("pageerror", (error) => console.error(`[page error] ${error}`));
  page.setDefaultTimeout(10 * 60_000);
  await page.goto(url);
  return page;
}

/** A local server of the playground, a fresh browser build at /dist/ and `modelDir` at /model/. */
export async function startWebServer(
  options: Omit<WebRoutesOptions, "distDir">,
): Promise<{ url: string; close: () => Promise<void> }> {
  const distDir = await Deno.makeTempDir({ prefix: "webgpu-lora-dist-" });
  await buildWeb(distDir);
  const app = webRoutes({ ...options, distDir });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    close: async () => {
      await server.shutdown();
      await Deno.remove(distDir, { recursive: true });
    },
  };
}

/** Saves a screenshot of `page` as tests/browser/artifacts/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const path = new URL(`${name}.png`, ARTIFACTS).pathname as `${string}.png`;
  await page.screenshot({ path, fullPage: true });
}
