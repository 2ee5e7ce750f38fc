/**
 * OpenAI's Files API and fine-tuning flow: uploads, listing, content and deletion on the CPU
 * backend, and (on WebGPU) the official `openai` client running
 * `files.create → fineTuning.jobs.create({training_file: id, validation_file: id, method}) →
 * checkpoints`, then generating with the checkpoint as a model.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import OpenAI, { toFile } from "openai";
import {
  FIXTURE_ID,
  fixtureServer,
  loadFixtureModel,
  serveApp,
  tempDir,
} from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import { expectError } from "./_server_requests.ts";

const JSONL = [1, 2, 3, 4].map((i) =>
  JSON.stringify({
    messages: [{ role: "user", content: `Q${i}?` }, { role: "assistant", content: `A${i}.` }],
  })
).join("\n") + "\n";

/** A multipart upload of `text` with `purpose`. */
function upload(text: string, purpose: string | null): FormData {
  const form = new FormData();
  if (purpose !== null) form.set("purpose", purpose);
  form.set("file", new File([text], "train.jsonl"));
  return form;
}

Deno.test("files: upload, list, retrieve, content and delete; bad uploads are 4xx", async () => {
  const model = await loadFixtureModel("cpu");
  const dataDir = join(await tempDir(), "data");
  const { app } = await fixtureServer(model, { engine: { dataDir } });
  const created = await (await app.request("/v1/files", {
    method: "POST",
    body: upload(JSONL, "fine-tune"),
  })).json();
  assert.match(created.id, /^file-[A-Za-z0-9]+$/);
  assert.deepEqual(
    { ...created, id: 0, created_at: 0 },
    {
      id: 0,
      object: "file",
      bytes: new TextEncoder().encode(JSONL).length,
      created_at: 0,
      filename: "train.jsonl",
      purpose: "fine-tune",
      status: "processed",
    },
  );
  assert.deepEqual(await (await app.request(`/v1/files/${created.id}`)).json(), created);
  assert.deepEqual((await (await app.request("/v1/files")).json()).data, [created]);
  assert.equal(await (await app.request(`/v1/files/${created.id}/content`)).text(), JSONL);
  // Stored under --data-dir.
  assert.equal(await Deno.readTextFile(join(dataDir, ".files", created.id)), JSONL);

  await expectError(
    await app.request("/v1/files", { method: "POST", body: upload(JSONL, "assistants") }),
    400,
    "purpose",
  );
  await expectError(
    await app.request("/v1/files", { method: "POST", body: upload(JSONL, null) }),
    400,
    "purpose",
  );
  const json = await app.request("/v1/files", {
    method: "POST",
    body: "{}",
    headers: { "content-type": "application/json" },
  });
  assert.equal((await expectError(json, 415)).code, "unsupported_media_type");
  await expectError(await app.request("/v1/files/file-nope"), 404, "file_id");
  await expectError(await app.request("/v1/files/..%2Fx/content"), 404);

  const deleted = await app.request(`/v1/files/${created.id}`, { method: "DELETE" });
  assert.deepEqual(await deleted.json(), { id: created.id, object: "file", deleted: true });
  await expectError(await app.request(`/v1/files/${created.id}`), 404);

  // Without --data-dir there is nowhere to keep files.
  const bare = await fixtureServer(model);
  const e = await expectError(
    await bare.app.request("/v1/files", { method: "POST", body: upload(JSONL, "fine-tune") }),
    400,
  );
  assert.equal(e.code, "files_unavailable");
});

gpuTest(
  "openai client: files.create → fineTuning.jobs.create({training_file, method}) → checkpoints → a chat on the checkpoint",
  async (gpu) => {
    const model = await loadFixtureModel("webgpu", gpu);
    const dataDir = join(await tempDir(), "data");
    const { app, engine } = await fixtureServer(model, {
      engine: { dataDir, checkpointEvery: 1 },
    });
    const server = serveApp(app);
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
      const file = await client.files.create({
        file: await toFile(new TextEncoder().encode(JSONL), "train.jsonl"),
        purpose: "fine-tune",
      });
      assert.equal(file.purpose, "fine-tune");
      const validationFile = await client.files.create({
        file: await toFile(new TextEncoder().encode(JSONL), "valid.jsonl"),
        purpose: "fine-tune",
      });
      let job = await client.fineTuning.jobs.create({
        model: FIXTURE_ID,
        training_file: file.id,
        validation_file: validationFile.id,
        suffix: "sdk",
        seed: 3,
        metadata: { team: "tests" },
        integrations: [],
        method: {
          type: "supervised",
          supervised: { hyperparameters: { n_epochs: 1, batch_size: 1 } },
        },
      });
      assert.equal(job.training_file, file.id);
      assert.equal(job.validation_file, validationFile.id);
      assert.deepEqual(job.metadata, { team: "tests" });
      assert.equal(job.method?.type, "supervised");
      assert.equal(job.method?.supervised?.hyperparameters?.n_epochs, 1);
      while (job.status === "queued" || job.status === "running") {
        await new Promise((resolve) => setTimeout(resolve, 50));
        job = await client.fineTuning.jobs.retrieve(job.id);
      }
      assert.equal(job.status, "succeeded", JSON.stringify(job.error));
      assert.equal(job.fine_tuned_model, "sdk");
      // The validation data was evaluated at the end of the epoch.
      const events = (await client.fineTuning.jobs.listEvents(job.id, { limit: 100 })).data;
      const validLoss = events.flatMap((e) => {
        const data = e.data as Record<string, number> | undefined;
        return data?.valid_loss === undefined ? [] : [data.valid_loss];
      });
      assert.equal(validLoss.length, 1, JSON.stringify(events));
      assert.ok(Number.isFinite(validLoss[0]) && validLoss[0] > 0);

      const checkpoints = [];
      for await (const checkpoint of client.fineTuning.jobs.checkpoints.list(job.id)) {
        checkpoints.push(checkpoint);
      }
      assert.equal(checkpoints.length, 1);
      const [checkpoint] = checkpoints;
      assert.equal(checkpoint.fine_tuning_job_id, job.id);
      assert.equal(
        checkpoint.fine_tuned_model_checkpoint,
        `${job.id}:ckpt-step-${checkpoint.step_number}`,
      );
      assert.equal(typeof checkpoint.metrics.train_loss, "number");

      // The checkpoint is a model: same weights as the final adapter, so the same greedy text.
      const chat = (model: string) =>
        client.chat.completions.create({
          model,
          messages: [{ role: "user", content: "Q1?" }],
          temperature: 0,
          max_tokens: 4,
        });
      const fromCheckpoint = await chat(checkpoint.fine_tuned_model_checkpoint);
      assert.equal(
        fromCheckpoint.choices[0].message.content,
        (await chat("sdk")).choices[0].message.content,
      );

      const content = await (await client.files.content(file.id)).text();
      assert.equal(content, JSONL);
      assert.deepEqual(
        (await client.files.list()).data.map((f) => f.id).sort(),
        [file.id, validationFile.id].sort(),
      );
      assert.equal((await client.files.delete(file.id)).deleted, true);
    } finally {
      await engine.close();
      await server.close();
    }
  },
);
