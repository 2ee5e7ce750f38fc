/**
 * `server/main.ts` as a child process for tests: a fixture model folder to serve, start-up on a
 * free port (resolving once it listens), waiting for `/health`, and a stop that returns the
 * exit code and stderr.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeModelFiles } from "../lib/format/fs_model_source.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import {
  fixtureModelFiles,
  randomAdapter,
  tempDir,
  writeAdapter,
} from "../server/_test_fixture.ts";

/** The server's entry point. */
export const MAIN = new URL("../server/main.ts", import.meta.url).pathname;

/** A fixture model folder and an adapter folder for it. */
export async function fixtureFolders() {
  const root = await tempDir();
  const files = fixtureModelFiles();
  const modelDir = join(root, "tiny-model");
  await writeModelFiles(modelDir, files);
  const config = parseModelConfig(JSON.parse(new TextDecoder().decode(files.get("config.json"))));
  const adapterDir = join(root, "my-adapter");
  await writeAdapter(adapterDir, randomAdapter(config, 5), config);
  return { root, modelDir, adapterDir };
}

/** Starts main.ts with `args`; resolves once it prints its address. */
export async function start(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", "0", ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/Listening on (http:\/\/\S+?)\/\n/.test(out)) {
    const { value, done } = await lines.read();
    if (done) {
      throw new Error(
        `main.ts exited before listening:\n${out}\n${
          new TextDecoder().decode((await child.output()).stderr)
        }`,
      );
    }
    out += value;
  }
  const url = /Listening on (http:\/\/\S+?)\/\n/.exec(out)![1];
  const drain = (async () => {
    while (!(await lines.read()).done) { /* keep the pipe flowing */ }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    url,
    child,
    /** Sends `signal` and returns the exit code and stderr. */
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      const status = await child.status;
      await drain;
      return { code: status.code, stderr: await stderr };
    },
  };
}

/** Waits until `url` answers /health with 200 (503 while loading); returns the body. */
export async function healthy(url: string) {
  while (true) {
    const response = await fetch(`${url}/health`);
    const body = await response.json();
    if (response.status === 200) return body;
    assert.equal(response.status, 503);
    assert.equal(body.status, "loading");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
