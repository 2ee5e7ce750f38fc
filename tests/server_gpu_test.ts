/**
 * A real server on 127.0.0.1, port 0, with the fixture model on WebGPU: generation requests
 * across two adapters while a fine-tuning job runs, the job lifecycle (events, success,
 * cancel), a client that disconnects mid-stream, and a restart over the same adapters folder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Model } from "../lib/model/model.ts";
import type { GenerationInfo } from "../server/generation_request.ts";
import type { TurnKind } from "../server/gpu_scheduler.ts";
import { type JobStatus, TERMINAL_STATUSES } from "../server/job_store.ts";
import { FIXTURE_ID, fixtureServer, loadFixtureModel, serveApp } from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import type { Gpu } from "../lib/gpu/device.ts";

let shared: Promise<Model> | null = null;
const gpuModel = (gpu: Gpu) => (shared ??= loadFixtureModel("webgpu", gpu));

const JSON_HEADERS = { "content-type": "application/json" };

const DATA = [1, 2, 3, 4].map((i) => ({ instruction: `Question ${i}?`, output: `Answer ${i}.` }));

async function json(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  const body = await response.json();
  assert.ok(response.ok, `${url}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

const postJson = (url: string, body: unknown) =>
  json(url, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) });

/** Polls job `id` until `done(job)` holds. */
async function waitForJob(
  url: string,
  id: string,
  done: (job: Record<string, unknown>) => boolean,
) {
  while (true) {
    const job = await json(`${url}/v1/fine_tuning/jobs/${id}`);
    if (done(job)) return job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

gpuTest("GPU server: /health reports the adapter and its kernel choices", async (gpu) => {
  const { app } = await fixtureServer(await gpuModel(gpu));
  const body = await (await app.request("/health")).json();
  assert.equal(body.backend, "webgpu");
  assert.deepEqual(body.kernels, { adapter: gpu.adapterName, ...gpu.kernels });
  assert.equal(body.kernels.tuned, true, "the load chose the kernels");
  assert.ok(["measured", "cache"].includes(body.kernels.origin), body.kernels.origin);
});

gpuTest(
  "GPU server: 16 concurrent requests on two adapters while a job trains, all correct",
  async (gpu) => {
    // A model of its own: its adapters (a1, a2 and the one trained here) are the server's, and
    // the restart below lists those of the shared model.
    const model = await loadFixtureModel("webgpu", gpu);
    const { app, engine } = await fixtureServer(model, { adapters: ["a1", "a2"] });
    const server = serveApp(app);
    try {
      const requests = Array.from({ length: 16 }, (_, i) => ({
        model: i % 2 ? "a2" : "a1",
        prompt: `Question ${i % 4}?`,
        temperature: 0,
        max_tokens: 4,
      }));
      const completion = (body: unknown) => postJson(`${server.url}/v1/completions`, body);
      // Greedy answers one at a time (this also loads both adapters).
      const sequential: string[] = [];
      for (const request of requests) sequential.push((await completion(request)).choices[0].text);
      assert.notDeepEqual(
        sequential.filter((_, i) => i % 2 === 0),
        sequential.filter((_, i) => i % 2 === 1),
      );

      // Record when each turn is asked for and granted.
      const trace: { event: "ask" | "grant"; kind: TurnKind; turn: number }[] = [];
      const acquire = engine.scheduler.acquire.bind(engine.scheduler);
      let turns = 0;
      engine.scheduler.acquire = (kind, signal) => {
        const turn = turns++;
        trace.push({ event: "ask", kind, turn });
        return acquire(kind, signal).then((release) => {
          trace.push({ event: "grant", kind, turn });
          return release;
        });
      };

      const job = await postJson(`${server.url}/v1/fine_tuning/jobs`, {
        model: FIXTURE_ID,
        training_data: DATA,
        suffix: "concurrent",
        hyperparameters: { max_steps: 6, gradient_accumulation_steps: 1, lora_r: 4 },
      });
      await waitForJob(server.url, job.id, (j) => j.status === "running");
      const answers = await Promise.all(
        requests.map(async (r) => (await completion(r)).choices[0].text),
      );
      assert.deepEqual(answers, sequential);
      const done = await waitForJob(
        server.url,
        job.id,
        (j) => TERMINAL_STATUSES.includes(j.status as JobStatus),
      );
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));

      // Fairness: between asking and being served, a request saw at most one training step.
      const steps = trace.filter((t) => t.event === "grant" && t.kind === "background").length;
      assert.ok(steps >= 6, `training took ${steps} turns`);
      for (const ask of trace.filter((t) => t.event === "ask" && t.kind === "request")) {
        const from = trace.indexOf(ask);
        const to = trace.findIndex((t) => t.event === "grant" && t.turn === ask.turn);
        const between = trace.slice(from, to).filter((t) =>
          t.event === "grant" && t.kind === "background"
        );
        assert.ok(
          between.length <= 1,
          `request turn ${ask.turn} waited for ${between.length} training turns`,
        );
      }
    } finally {
      await server.close();
      await engine.close();
      model.dispose();
    }
  },
);

gpuTest(
  "GPU server: job lifecycle with live events, a new model, cancel, and restart",
  async (gpu) => {
    const model = await gpuModel(gpu);
    const { app, engine, adaptersDir } = await fixtureServer(model, {
      engine: { checkpointEvery: 1 },
    });
    const server = serveApp(app);
    try {
      const created = await postJson(`${server.url}/v1/fine_tuning/jobs`, {
        model: FIXTURE_ID,
        training_data: DATA,
        suffix: "mine",
        seed: 3,
        hyperparameters: {
          max_steps: 3,
          gradient_accumulation_steps: 1,
          lora_r: 4,
          learning_rate: 1e-2,
        },
      });
      assert.equal(created.object, "fine_tuning.job");
      assert.equal(created.status, "queued");
      const live = await fetch(
        `${server.url}/v1/fine_tuning/jobs/${created.id}/events?stream=true`,
      );
      const text = await live.text();
      assert.ok(text.endsWith("data: [DONE]\n\n"));
      const events = text.split("\n\n").filter((b) => b.startsWith("data: {")).map((b) =>
        JSON.parse(b.slice(6))
      );
      assert.match(events[0].message, /^Created fine-tuning job/);
      const metrics = events.filter((e) => e.type === "metrics");
      assert.deepEqual(metrics.map((e) => e.data.step), [1, 2, 3]);
      for (const e of metrics) {
        assert.equal(e.data.total_steps, 3);
        for (const key of ["train_loss", "learning_rate", "tokens_per_second", "eta_seconds"]) {
          assert.ok(Number.isFinite(e.data[key]), `${key} of ${JSON.stringify(e)}`);
        }
      }
      assert.match(events.at(-1).message, /successfully completed: model mine/);

      const job = await json(`${server.url}/v1/fine_tuning/jobs/${created.id}`);
      assert.equal(job.status, "succeeded");
      assert.equal(job.fine_tuned_model, "mine");
      assert.equal(job.last_checkpoint, `.jobs/${created.id}/checkpoint-3`);
      assert.ok((await Deno.stat(join(adaptersDir, "mine", "adapter_model.safetensors"))).isFile);
      const models = (await json(`${server.url}/v1/models`)).data;
      assert.deepEqual(models.find((m: { id: string }) => m.id === "mine")?.parent, FIXTURE_ID);
      const tuned = await postJson(`${server.url}/v1/completions`, {
        model: "mine",
        prompt: "Question 1?",
        temperature: 0,
        max_tokens: 4,
      });
      assert.equal(tuned.usage.completion_tokens > 0, true);
      const page = await json(`${server.url}/v1/fine_tuning/jobs/${created.id}/events?limit=2`);
      assert.equal(page.data.length, 2);
      assert.equal(page.has_more, true);
      assert.equal(page.data[0].id, events.at(-1).id); // newest first
      // The name is now taken.
      const again = await fetch(`${server.url}/v1/fine_tuning/jobs`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify({ model: FIXTURE_ID, training_data: DATA, suffix: "mine" }),
      });
      assert.equal(again.status, 409);
      assert.equal((await again.json()).error.code, "name_taken");

      // Cancel: a long job is stopped after a step; the job queued behind it never starts.
      const long = await postJson(`${server.url}/v1/fine_tuning/jobs`, {
        model: FIXTURE_ID,
        training_data: DATA,
        suffix: "long",
        hyperparameters: { max_steps: 10_000, gradient_accumulation_steps: 1, lora_r: 4 },
      });
      const queued = await postJson(`${server.url}/v1/fine_tuning/jobs`, {
        model: FIXTURE_ID,
        training_data: DATA,
        hyperparameters: { max_steps: 2, gradient_accumulation_steps: 1, lora_r: 4 },
      });
      const cancelledQueued = await postJson(
        `${server.url}/v1/fine_tuning/jobs/${queued.id}/cancel`,
        {},
      );
      assert.equal(cancelledQueued.status, "cancelled");
      await waitForJob(server.url, long.id, (j) => j.last_checkpoint !== null);
      const cancelled = await postJson(`${server.url}/v1/fine_tuning/jobs/${long.id}/cancel`, {});
      assert.equal(cancelled.status, "cancelled");
      assert.equal(cancelled.fine_tuned_model, null);
      assert.match(cancelled.last_checkpoint, new RegExp(`^\\.jobs/${long.id}/checkpoint-\\d+$`));
      assert.ok(
        (await Deno.stat(join(adaptersDir, cancelled.last_checkpoint, "trainer_state.json")))
          .isFile,
      );
      const repeat = await fetch(`${server.url}/v1/fine_tuning/jobs/${long.id}/cancel`, {
        method: "POST",
      });
      assert.equal(repeat.status, 400);
      await repeat.body?.cancel();
      assert.ok(
        !(await json(`${server.url}/v1/models`)).data.some((m: { id: string }) => m.id === "long"),
      );
      const list = await json(`${server.url}/v1/fine_tuning/jobs`);
      assert.deepEqual(
        new Set(list.data.map((j: { id: string }) => j.id)),
        new Set([created.id, long.id, queued.id]),
      );

      // Restart over the same folder: the adapter and the jobs are found again.
      const interrupted = await postJson(`${server.url}/v1/fine_tuning/jobs`, {
        model: FIXTURE_ID,
        training_data: DATA,
        hyperparameters: { max_steps: 10_000, gradient_accumulation_steps: 1, lora_r: 4 },
      });
      const seen = await waitForJob(server.url, interrupted.id, (j) => j.last_checkpoint !== null);
      await server.close();
      await engine.close(); // a shutdown: the running job fails, naming its last checkpoint
      const shutDown = await engine.fineTuning.get(interrupted.id);
      assert.equal(shutDown.status, "failed");
      assert.match(
        shutDown.error!.message,
        /Interrupted by a server shutdown; last checkpoint \.jobs\//,
      );
      assert.ok(seen.last_checkpoint);

      const { ServerEngine } = await import("../server/engine.ts");
      const restarted = new ServerEngine(model, { adaptersDir });
      await restarted.ready;
      assert.deepEqual((await restarted.models()).map((m) => m.id), [FIXTURE_ID, "mine"]);
      assert.equal((await restarted.fineTuning.get(created.id)).status, "succeeded");
      assert.equal((await restarted.fineTuning.get(long.id)).status, "cancelled");
      assert.equal((await restarted.fineTuning.get(interrupted.id)).status, "failed");
      const result = await restarted.generate({
        model: "mine",
        prompt: "Question 1?",
        temperature: 0,
        maxTokens: 4,
      });
      assert.equal(result.text, tuned.choices[0].text);
      await restarted.close();
    } finally {
      await server.close().catch(() => {});
      await engine.close();
    }
  },
);

gpuTest("GPU server: a client that disconnects mid-stream stops its generation", async (gpu) => {
  const model = await gpuModel(gpu);
  const finished: GenerationInfo[] = [];
  const { app, engine } = await fixtureServer(model, {
    engine: { onGeneration: (info) => finished.push(info) },
  });
  const server = serveApp(app);
  try {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({
        model: FIXTURE_ID,
        prompt: "Once",
        temperature: 0,
        max_tokens: 200,
        stream: true,
      }),
      signal: abort.signal,
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{/);
    abort.abort();
    while (finished.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(finished[0].finishReason, "abort");
    assert.ok(finished[0].completionTokens < 200, `${finished[0].completionTokens} tokens`);
    assert.equal(engine.scheduler.requests, 0);
    // The server goes on serving.
    const next = await postJson(`${server.url}/v1/completions`, {
      model: FIXTURE_ID,
      prompt: "Once",
      temperature: 0,
      max_tokens: 3,
    });
    assert.equal(next.usage.completion_tokens, 3);
    assert.equal(finished[1].finishReason, "length");
  } finally {
    await server.close();
  }
});
