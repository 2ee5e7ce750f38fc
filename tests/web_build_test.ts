/**
 * The browser build holds no Deno-only code where a browser would load it: from
 * dist/webgpu-lora.js, every module reachable through static imports is free of `node:` imports
 * and of `Deno.` calls; the Deno file layer sits in chunks reached only by dynamic `import()`.
 */
import assert from "node:assert/strict";
import { buildWeb } from "../web/build.ts";

/** Static `import … from "x"`, `export … from "x"` and `import "x"`, but not `import("x")`. */
const STATIC_IMPORT = /(?:\bfrom|\bimport)\s*["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
/** A bare `Deno.` (not `globalThis.Deno?.`, which is guarded). */
const DENO_CALL = /(?<![.\w])Deno\.\w+/g;

/** The files reached from `entry` by static imports, with their text. */
async function staticGraph(dir: string, entry: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    const text = await Deno.readTextFile(`${dir}/${file}`);
    seen.set(file, text);
    for (const [, spec] of text.matchAll(STATIC_IMPORT)) {
      if (spec.startsWith("./")) await visit(spec.slice(2));
      else seen.set(spec, ""); // a bare specifier: node:…, or a package left unbundled
    }
  };
  await visit(entry);
  return seen;
}

Deno.test("the browser bundle's static import graph has no node: import and no Deno call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await buildWeb(dir);
    const graph = await staticGraph(dir, "webgpu-lora.js");
    const bare = [...graph.keys()].filter((f) => !f.endsWith(".js"));
    assert.deepEqual(bare, [], `bare imports a browser cannot resolve: ${bare.join(", ")}`);
    const denoCalls = [...graph].flatMap(([file, text]) =>
      [...text.matchAll(DENO_CALL)].map((m) => `${file}: ${m[0]}`)
    );
    assert.deepEqual(denoCalls, []);

    // The Deno layer is in the build, behind dynamic imports only.
    const dynamic = [...graph.values()].flatMap((t) => [...t.matchAll(DYNAMIC_IMPORT)]);
    const lazy = dynamic.map((m) => m[1].slice(2)).filter((f) => !graph.has(f));
    assert.ok(lazy.some((f) => f.startsWith("fs_model_source")), `dynamic chunks: ${lazy}`);
    assert.ok(lazy.some((f) => f.startsWith("download_model")), `dynamic chunks: ${lazy}`);
    const lazyText = (await Promise.all(lazy.map((f) => Deno.readTextFile(`${dir}/${f}`)))).join();
    assert.match(lazyText, /from "node:/); // the scan does see node: imports where they are
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
