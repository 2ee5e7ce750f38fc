/**
 * Worker failover with real processes (issue 17, "done when" 1): two training workers share the
 * queue; one is killed with SIGKILL after the job's first checkpoint, and the other resumes the
 * job from that checkpoint within ack_wait + 1 s of the kill. The adapter it publishes is
 * byte-identical to an uninterrupted run's, and every step event appears once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { AdapterStore } from "../../server/cluster/adapter_store.ts";
import { readJobEvents } from "../../server/cluster/job_events.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { natsTest } from "./_nats_test_server.ts";
import { waitForRecord, withCluster } from "./_cluster_fixture.ts";
import { startWorker, submitTestJob, writeFixtureModel } from "./_worker_processes.ts";

const ACK_WAIT_MS = 4000;
const STEPS = 24;
const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

natsTest(
  "a job whose worker is killed resumes on another with an identical adapter",
  () =>
    withCluster(async (cluster, url) => {
      const root = await Deno.makeTempDir({ prefix: "failover-" });
      const modelDir = await writeFixtureModel(root);
      const flags = ["--checkpoint-every", "4", "--ack-wait-ms", String(ACK_WAIT_MS)];
      const workers = [
        startWorker("w1", url, modelDir, flags),
        startWorker("w2", url, modelDir, flags),
      ];
      const records = new JobRecords(cluster.jobs);
      const adapters = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
      try {
        await Promise.all(workers.map((w) => w.ready));
        // The uninterrupted run.
        await submitTestJob(cluster, "ftjob-whole", "whole", STEPS);
        const whole = await waitForRecord(
          records,
          "ftjob-whole",
          (r) => r.job.status === "succeeded",
          120_000,
        );
        assert.equal(whole.attempt, 1);

        // The interrupted one: kill its worker once the first checkpoint is recorded.
        await submitTestJob(cluster, "ftjob-killed", "killed", STEPS);
        const checkpointed = await waitForRecord(
          records,
          "ftjob-killed",
          (r) => r.checkpoint !== null,
          120_000,
        );
        assert.ok(checkpointed.job.status === "running", "killed mid-job");
        const victim = workers.find((w) => w.id === checkpointed.owner)!;
        await victim.kill();
        const killedAt = Date.now();
        const resumed = await waitForRecord(
          records,
          "ftjob-killed",
          (r) => r.attempt === 2,
          30_000,
        );
        const takeover = Date.now() - killedAt;
        assert.notEqual(resumed.owner, victim.id);
        assert.ok(takeover <= ACK_WAIT_MS + 1000, `taken over ${takeover} ms after the kill`);
        const done = await waitForRecord(
          records,
          "ftjob-killed",
          (r) => r.job.status === "succeeded",
          120_000,
        );
        console.log(
          `takeover ${takeover} ms after SIGKILL (ack_wait ${ACK_WAIT_MS} ms), ` +
            `resumed from ${checkpointed.job.last_checkpoint}`,
        );
        assert.equal(done.job.fine_tuned_model, "killed");

        const wholeFiles = await adapters.files((await adapters.get("whole"))!);
        const killedFiles = await adapters.files((await adapters.get("killed"))!);
        assert.deepEqual(killedFiles, wholeFiles, "byte-identical adapter files");

        const events = await readJobEvents(cluster.js, "ftjob-killed");
        const steps = events.filter((e) => e.type === "metrics").map((e) => e.data!.step);
        assert.deepEqual(steps, Array.from({ length: STEPS }, (_, i) => i + 1), "each step once");
        assert.ok(events.some((e) => /resumed from step \d+ \(attempt 2\)/.test(e.message)));
      } finally {
        for (const w of workers) await w.kill();
        await Deno.remove(root, { recursive: true });
      }
    }),
  gpuMissing,
);
