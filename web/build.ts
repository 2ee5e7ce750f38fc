/**
 * The browser build: bundles `mod.ts` for browsers into `dist/webgpu-lora.js` plus its chunks.
 * `--code-splitting` keeps the Deno-only file layer (`lib/deno_layer.ts`'s dynamic imports) in
 * chunks of their own, which a browser never loads; without it they would be inlined, with their
 * `node:` imports, and the browser would refuse the module.
 *
 *   deno task build:web            # → dist/
 *   deno run -A web/build.ts DIR   # → DIR/
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** The bundle's entry file name in the output folder. */
export const WEB_ENTRY = "webgpu-lora.js";

/** Bundles the library into `outDir` (emptied first); returns the entry's path. */
export async function buildWeb(outDir: string): Promise<string> {
  await Deno.remove(outDir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const root = fromFileUrl(new URL("../", import.meta.url));
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform=browser",
      "--code-splitting",
      "--outdir",
      outDir,
      "mod.ts",
    ],
    cwd: root,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno bundle failed (exit ${code}): ${new TextDecoder().decode(stderr)}`);
  }
  const entry = `${outDir}/${WEB_ENTRY}`;
  await Deno.rename(`${outDir}/mod.js`, entry);
  return entry;
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? fromFileUrl(new URL("../dist", import.meta.url));
  console.log(`Wrote ${await buildWeb(outDir)}`);
}
