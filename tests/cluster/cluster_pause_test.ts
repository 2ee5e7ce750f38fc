/**
 * Pausing and resuming a cluster job through a replica's API (issue 17): the pause stops the
 * job's worker (a separate process) after its current step with a checkpoint and marks the job
 * paused; the resume queues it again, and it goes on from the checkpoint to an adapter
 * byte-identical to an uninterrupted run's, every step logged once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { AdapterStore } from "../../server/cluster/adapter_store.ts";
import { readJobEvents } from "../../server/cluster/job_events.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { natsTest } from "./_nats_test_server.ts";
import { clusterApi, waitForRecord, withCluster } from "./_cluster_fixture.ts";
import { jobRequest } from "./_cluster_scenarios.ts";
import { startWorker, writeFixtureModel } from "./_worker_processes.ts";

/**
 * The pause is sent once the first step is recorded and lands at the next step boundary, well
 * before the last step. (Jobs of 12 and 60 steps had finished before it in CI: creating the
 * job listed the job records, and that list waited until the worker stopped writing the new
 * job's record, so the test only saw the job once it had ended; see `kv_keys.ts`.)
 */
const STEPS = 60;
const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

natsTest(
  "a paused job stops at a checkpoint and its resume finishes it as if never paused",
  () =>
    withCluster(async (cluster, url) => {
      const root = await Deno.makeTempDir({ prefix: "pause-" });
      const modelDir = await writeFixtureModel(root);
      const worker = startWorker("w1", url, modelDir, ["--checkpoint-every", "100"]);
      const { app, engine } = await clusterApi(cluster, "webgpu");
      const records = new JobRecords(cluster.jobs);
      const call = async (path: string, body: unknown = {}) => {
        const response = await app.request(`/v1/fine_tuning/jobs${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
      };
      const succeeded = (id: string) =>
        waitForRecord(records, id, (r) => r.job.status === "succeeded", 120_000);
      try {
        await worker.ready;
        const { body: job } = await call("", jobRequest("paused", STEPS));
        assert.equal((await call(`/${job.id}/resume`)).body.error?.code, "job_not_paused");
        await waitForRecord(records, job.id, (r) => (r.job.trained_tokens ?? 0) > 0);
        const paused = await call(`/${job.id}/pause`);
        assert.equal(paused.status, 200, JSON.stringify(paused.body));
        assert.equal(paused.body.status, "paused");
        // Checkpoints every 100 steps: the one it has was written by the pause.
        const step = Number(/checkpoint-(\d+)$/.exec(paused.body.last_checkpoint)?.[1]);
        assert.ok(step > 0 && step < STEPS, `paused at step ${step} of ${STEPS}`);
        assert.equal((await records.get(job.id))?.owner, null);
        assert.equal((await call(`/${job.id}/pause`)).body.error?.code, "job_not_running");

        // While it is paused the worker is free: an uninterrupted run of the same job.
        const { body: whole } = await call("", jobRequest("whole", STEPS));
        await succeeded(whole.id);
        assert.equal((await records.get(job.id))?.job.status, "paused", "it stays paused");

        const resumed = await call(`/${job.id}/resume`);
        assert.equal(resumed.body.status, "queued", JSON.stringify(resumed.body));
        await succeeded(job.id);
        const adapters = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
        assert.deepEqual(
          await adapters.files((await adapters.get("paused"))!),
          await adapters.files((await adapters.get("whole"))!),
          "byte-identical adapter files",
        );
        const events = await readJobEvents(cluster.js, job.id);
        const steps = events.filter((e) => e.type === "metrics").map((e) => e.data!.step);
        assert.deepEqual(steps, Array.from({ length: STEPS }, (_, i) => i + 1), "each step once");
        const messages = events.map((e) => e.message);
        assert.ok(
          messages.includes(
            `The job was paused at step ${step}; last checkpoint ` +
              paused.body.last_checkpoint,
          ),
          messages.join("\n"),
        );
        assert.ok(messages.includes(`Fine-tuning job resumed from step ${step} (attempt 2)`));
      } finally {
        await engine.close();
        await worker.kill();
        await Deno.remove(root, { recursive: true });
      }
    }),
  gpuMissing,
);
