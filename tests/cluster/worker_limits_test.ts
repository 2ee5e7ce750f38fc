/**
 * The limits of a worker process (issue 17): cancelling a running job stops its owner after the
 * current step, and a job whose every attempt died is marked failed by the worker that gets its
 * extra delivery instead of being run again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { readJobEvents } from "../../server/cluster/job_events.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { natsTest } from "./_nats_test_server.ts";
import { waitForRecord, withCluster } from "./_cluster_fixture.ts";
import { startWorker, submitTestJob, writeFixtureModel } from "./_worker_processes.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

natsTest(
  "cancel stops a running job; a job out of attempts is failed",
  () =>
    withCluster(async (cluster, url) => {
      const root = await Deno.makeTempDir({ prefix: "limits-" });
      const modelDir = await writeFixtureModel(root);
      // ack_wait 4 s: the first step compiles pipelines and blocks the worker's event loop (and so its
      // heartbeats) for over 1.5 s on a loaded lavapipe machine, which redelivered the job at 1.5 s.
      const flags = ["--checkpoint-every", "2", "--ack-wait-ms", "4000", "--max-attempts", "1"];
      const workers = [
        startWorker("w1", url, modelDir, flags),
        startWorker("w2", url, modelDir, flags),
      ];
      const records = new JobRecords(cluster.jobs);
      try {
        await Promise.all(workers.map((w) => w.ready));
        await submitTestJob(cluster, "ftjob-cancel", "never", 1000);
        await waitForRecord(records, "ftjob-cancel", (r) => (r.job.trained_tokens ?? 0) > 0);
        await records.requestCancel("ftjob-cancel");
        const cancelled = await waitForRecord(
          records,
          "ftjob-cancel",
          (r) => r.job.status === "cancelled",
        );
        const events = await readJobEvents(cluster.js, "ftjob-cancel");
        assert.match(events.at(-1)!.message, /^The job was cancelled at step \d+$/);
        assert.ok(cancelled.checkpoint, "a checkpoint of the last step was kept");

        await submitTestJob(cluster, "ftjob-doomed", "doomed", 1000);
        const running = await waitForRecord(records, "ftjob-doomed", (r) =>
          r.job.status === "running");
        await workers.find((w) =>
          w.id === running.owner
        )!.kill();
        const failed = await waitForRecord(
          records,
          "ftjob-doomed",
          (r) => r.job.status === "failed",
        );
        assert.equal(failed.job.error?.code, "attempts_exhausted");
        assert.equal(failed.job.error?.message, "Gave up after 1 attempt: every worker stopped");
      } finally {
        for (const w of workers) await w.kill();
        await Deno.remove(root, { recursive: true });
      }
    }),
  gpuMissing,
);
