/**
 * A restart of the whole cluster (issue 17, "done when" 7), with real processes: nats-server on
 * file storage, two replicas and a worker are all killed with SIGKILL while a job runs (past a
 * checkpoint) and another waits in the queue; started again on the same store (and with the
 * replicas' adapters folders gone), the jobs and the adapter are all there, the running job
 * resumes from its checkpoint instead of failing, and the queued one runs. One worker, so that
 * the second job is still queued at the kill.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findAdapter } from "../../lib/gpu/device.ts";
import { loadFixtureModel, randomAdapter } from "../../server/_test_fixture.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import type { FineTuningJob, JobEvent } from "../../server/job_store.ts";
import { waitForRecord } from "./_cluster_fixture.ts";
import { natsTest } from "./_nats_test_server.ts";
import {
  complete,
  expectedText,
  finishedJob,
  publishAdapter,
  startTestCluster,
  submitJob,
} from "./_cluster_scenarios.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";
const STEPS = 30;
const WORKER_FLAGS = ["--checkpoint-every", "2", "--ack-wait-ms", "2000"];

natsTest(
  "a whole-cluster restart keeps jobs, adapters and queued work; a running job resumes",
  async () => {
    const model = await loadFixtureModel("webgpu");
    const before = await startTestCluster({ replicas: 2, workers: 1, workerFlags: WORKER_FLAGS });
    const root = before.root;
    try {
      const weights = randomAdapter(model.config, 21);
      await publishAdapter(before, model, "kept", weights);
      const [r1, r2] = before.replicas.map((r) => r.url());
      const running = await (await submitJob(r1, "long", STEPS)).json();
      const queued = await (await submitJob(r2, "later", 4)).json();
      const records = new JobRecords(before.client.jobs);
      await waitForRecord(records, running.id, (r) => r.checkpoint !== null);
      assert.equal((await records.get(queued.id))?.job.status, "queued");
      await before.kill();
      for (const id of ["r1", "r2"]) {
        await Deno.remove(join(root, `adapters-${id}`), {
          recursive: true,
        });
      }

      const restartedAt = performance.now();
      const after = await startTestCluster({
        replicas: 2,
        workers: 1,
        workerFlags: WORKER_FLAGS,
        root,
        port: Number(new URL(before.nats.url).port),
      });
      try {
        const url = after.replicas[0].url();
        const jobs: FineTuningJob[] =
          (await (await fetch(`${url}/v1/fine_tuning/jobs`)).json()).data;
        assert.deepEqual(jobs.map((j) => j.id).sort(), [running.id, queued.id].sort());
        const models = (await (await fetch(`${url}/v1/models`)).json()).data;
        assert.ok(models.some((m: { id: string }) => m.id === "kept"), JSON.stringify(models));
        const served = await complete(after.replicas[1].url(), "kept", true);
        assert.equal(served.text, await expectedText(model, weights));

        const resumed = await waitForRecord(
          new JobRecords(after.client.jobs),
          running.id,
          (r) => r.attempt === 2,
        );
        console.log(
          `7: the running job resumed ${
            Math.round(performance.now() - restartedAt)
          } ms after the ` +
            `restart began, from ${resumed.job.last_checkpoint}`,
        );
        assert.equal((await finishedJob(url, running.id)).status, "succeeded");
        assert.equal((await finishedJob(url, queued.id)).status, "succeeded");
        const events: JobEvent[] =
          (await (await fetch(`${url}/v1/fine_tuning/jobs/${running.id}/events?limit=100`)).json())
            .data;
        assert.ok(events.some((e) => /resumed from step \d+ \(attempt 2\)/.test(e.message)));
        const steps = events.filter((e) => e.type === "metrics").map((e) => e.data!.step).reverse();
        assert.deepEqual(steps, Array.from({ length: STEPS }, (_, i) => i + 1), "each step once");
      } finally {
        await after.kill();
      }
    } finally {
      await before.kill();
      model.dispose();
      await Deno.remove(root, { recursive: true });
    }
  },
  gpuMissing,
);
