import assert from "node:assert/strict";
import { webRoutes } from "../server/web_routes.ts";

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return dir;
}

Deno.test("webRoutes serves the playground at /, the build at /dist/ and the model at /model/", async () => {
  const webDir = await folder({ "index.html": "<h1>playground</h1>", "app.js": "export {};" });
  const distDir = await folder({ "webgpu-lora.js": "export const x = 1;" });
  const modelDir = await folder({ "config.json": "{}" });
  try {
    const app = webRoutes({ webDir, distDir, modelDir });
    const get = async (path: string) => {
      const response = await app.request(path);
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.text(),
      };
    };
    assert.deepEqual(await get("/"), {
      status: 200,
      type: "text/html; charset=utf-8",
      body: "<h1>playground</h1>",
    });
    assert.match((await get("/app.js")).type!, /^text\/javascript/);
    assert.equal((await get("/dist/webgpu-lora.js")).body, "export const x = 1;");
    assert.deepEqual(await get("/model/config.json"), {
      status: 200,
      type: "application/json",
      body: "{}",
    });
    assert.equal((await get("/model/missing.json")).status, 404);
    assert.equal((await get("/model/..%2f..%2fetc%2fpasswd")).status, 404);
    assert.equal((await get("/dist/config.json")).status, 404); // each prefix keeps to its folder
    const noModel = webRoutes({ webDir, distDir, modelDir: null });
    assert.equal((await noModel.request("/model/config.json")).status, 404);
  } finally {
    for (const dir of [webDir, distDir, modelDir]) await Deno.remove(dir, { recursive: true });
  }
});
