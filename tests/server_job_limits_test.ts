/**
 * Fine-tuning job control on WebGPU: a queue of at most `maxQueuedJobs` waiting jobs (429
 * beyond), `DELETE` of a finished job's record, the retention of at most `maxJobRecords`
 * records, and pause and resume through the official `openai` client.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import OpenAI from "openai";
import { FIXTURE_ID, fixtureServer, loadFixtureModel, serveApp } from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import { expectError, post } from "./_server_requests.ts";

const DATA = [1, 2].map((i) => ({ instruction: `Question ${i}?`, output: `Answer ${i}.` }));

gpuTest(
  "jobs: the queue is capped (429), finished jobs can be deleted, old records go",
  async (gpu) => {
    const model = await loadFixtureModel("webgpu", gpu);
    const { app, engine, adaptersDir } = await fixtureServer(model, {
      engine: { maxQueuedJobs: 1, maxJobRecords: 3, checkpointEvery: 1 },
    });
    const create = async (hyperparameters: Record<string, number>) => {
      const response = await post(app, "/v1/fine_tuning/jobs", {
        model: FIXTURE_ID,
        training_data: DATA,
        hyperparameters: { gradient_accumulation_steps: 1, lora_r: 2, ...hyperparameters },
      });
      return response;
    };
    const running = await (await create({ max_steps: 100_000 })).json();
    const queued = await (await create({ max_steps: 1 })).json();
    assert.equal(queued.status, "queued");
    const refused = await expectError(await create({ max_steps: 1 }), 429);
    assert.equal(refused.code, "too_many_jobs");
    assert.equal((await engine.fineTuning.list()).length, 2);

    const notFinished = await expectError(
      await app.request(`/v1/fine_tuning/jobs/${queued.id}`, { method: "DELETE" }),
      409,
    );
    assert.equal(notFinished.code, "job_not_finished");
    await post(app, `/v1/fine_tuning/jobs/${queued.id}/cancel`, {});
    while ((await engine.fineTuning.get(running.id)).last_checkpoint === null) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await post(app, `/v1/fine_tuning/jobs/${running.id}/cancel`, {})).status, 200);
    const deleted = await app.request(`/v1/fine_tuning/jobs/${running.id}`, { method: "DELETE" });
    assert.deepEqual(await deleted.json(), {
      id: running.id,
      object: "fine_tuning.job",
      deleted: true,
    });
    await expectError(await app.request(`/v1/fine_tuning/jobs/${running.id}`), 404);
    const jobsDir = join(adaptersDir, ".jobs");
    assert.ok(![...Deno.readDirSync(jobsDir)].some((e) => e.name.startsWith(running.id)));

    // Retention: 3 records at most, the oldest finished ones deleted as new jobs come.
    const ids = [queued.id];
    for (let i = 0; i < 3; i++) {
      const job = await (await create({ max_steps: 1 })).json();
      ids.push(job.id);
      while ((await engine.fineTuning.get(job.id)).status !== "succeeded") {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    assert.deepEqual(
      (await engine.fineTuning.list()).map((j) => j.id).sort(),
      ids.slice(1).sort(),
    );
    assert.ok(![...Deno.readDirSync(jobsDir)].some((e) => e.name.startsWith(queued.id)));
    await engine.close();
  },
);

gpuTest(
  "openai client: pause keeps a checkpoint, resume continues from it to success",
  async (gpu) => {
    const model = await loadFixtureModel("webgpu", gpu);
    const { app, engine } = await fixtureServer(model, { engine: { checkpointEvery: 1 } });
    const server = serveApp(app);
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
      // Created with the server's extensions (inline data, max_steps), paused with the client.
      const job = await (await post(app, "/v1/fine_tuning/jobs", {
        model: FIXTURE_ID,
        training_data: DATA,
        suffix: "paused",
        method: {
          type: "supervised",
          supervised: {
            hyperparameters: { max_steps: 6, gradient_accumulation_steps: 1, lora_r: 2 },
          },
        },
      })).json();
      while ((await engine.fineTuning.get(job.id)).last_checkpoint === null) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const paused = await client.fineTuning.jobs.pause(job.id);
      assert.equal(paused.status, "paused");
      const pausedStep = Number(
        /checkpoint-(\d+)$/.exec((await engine.fineTuning.get(job.id)).last_checkpoint!)![1],
      );
      assert.ok(pausedStep < 6, `paused at ${pausedStep}`);
      await assert.rejects(
        client.fineTuning.jobs.pause(job.id),
        /only a running job can be paused/,
      );
      // The name stays reserved while paused.
      const taken = await post(app, "/v1/fine_tuning/jobs", {
        model: FIXTURE_ID,
        training_data: DATA,
        suffix: "paused",
      });
      assert.equal((await expectError(taken, 409)).code, "name_taken");

      assert.equal((await client.fineTuning.jobs.resume(job.id)).status, "queued");
      let now = await engine.fineTuning.get(job.id);
      while (now.status === "queued" || now.status === "running") {
        await new Promise((resolve) => setTimeout(resolve, 20));
        now = await engine.fineTuning.get(job.id);
      }
      assert.equal(now.status, "succeeded", JSON.stringify(now.error));
      // Continued from the checkpoint: no step at or before it was trained again.
      const events = await engine.fineTuning.events(job.id);
      const resumedAt = events.findIndex((e) => e.message.startsWith("The job was resumed"));
      const stepsAfter = events.slice(resumedAt).flatMap((e) => e.data ? [e.data.step] : []);
      assert.deepEqual(
        stepsAfter,
        Array.from({ length: 6 - pausedStep }, (_, i) => pausedStep + 1 + i),
      );
    } finally {
      await engine.close();
      await server.close();
    }
  },
);
