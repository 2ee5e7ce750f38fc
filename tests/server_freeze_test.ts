/**
 * One request never freezes the server (`server/main.ts` as a process on the CPU backend):
 * while a large planted data set is parsed and tokenised (in a Worker), `/health` keeps
 * answering; a body nested millions deep is refused before it is parsed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureFolders, healthy, start } from "./_server_process.ts";

/** Milliseconds of each `/health` round trip until `pending` settles. */
async function healthLatencies(url: string, pending: Promise<unknown>): Promise<number[]> {
  let settled = false;
  pending.finally(() => settled = true).catch(() => {});
  const latencies: number[] = [];
  while (!settled) {
    const started = performance.now();
    const response = await fetch(`${url}/health`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return latencies;
}

Deno.test("freeze: /health answers while a large data set is tokenised; deep JSON is refused at once", async () => {
  const { root, modelDir } = await fixtureFolders();
  const dataDir = join(root, "data");
  await Deno.mkdir(dataDir);
  const records = Array.from({ length: 20_000 }, (_, i) => ({
    instruction: `Question number ${i}: why is the sky blue on day ${i}?`,
    output: `Because of Rayleigh scattering, answer ${i}, `.repeat(4),
  }));
  await Deno.writeTextFile(join(dataDir, "huge.json"), JSON.stringify(records));
  const server = await start([
    "--model",
    modelDir,
    "--backend",
    "cpu",
    "--adapters-dir",
    join(root, "adapters"),
    "--data-dir",
    dataDir,
  ]);
  try {
    await healthy(server.url);
    const post = (body: string) =>
      fetch(`${server.url}/v1/fine_tuning/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const started = performance.now();
    const job = post(JSON.stringify({ model: "tiny-model", training_file: "huge.json" }));
    const latencies = await healthLatencies(server.url, job);
    const jobMs = performance.now() - started;
    // The data was good: it was read and tokenised, then refused only for want of WebGPU.
    const answer = await (await job).json();
    assert.equal(answer.error.code, "training_unavailable", JSON.stringify(answer));
    const slowest = Math.max(...latencies);
    console.log(
      `huge.json: ${(jobMs / 1000).toFixed(1)} s to prepare; ${latencies.length} /health ` +
        `answers, slowest ${slowest.toFixed(0)} ms`,
    );
    // On the event loop, /health would wait for the whole preparation. Bounds that hold on a
    // loaded 2-core machine: well under the preparation time, and under 2 s outright.
    assert.ok(latencies.length >= 3, `${latencies.length} answers in ${jobMs} ms`);
    assert.ok(slowest < Math.min(2000, jobMs / 3), `slowest /health ${slowest} ms of ${jobMs}`);

    // 2.5 million levels (5 MB): refused by a scan, before JSON.parse could take seconds.
    const depth = 2_500_000;
    const deep = `{"model":"tiny-model","training_data":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    const deepStarted = performance.now();
    const refused = await post(deep);
    const deepMs = performance.now() - deepStarted;
    const error = (await refused.json()).error;
    assert.equal(refused.status, 400);
    assert.equal(error.code, "json_too_deep");
    console.log(`2.5M-deep body refused in ${deepMs.toFixed(0)} ms`);
  } finally {
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
  }
});
