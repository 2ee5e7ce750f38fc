/**
 * Job submission over a real nats-server: a job is stored, logged and queued; concurrent
 * requests with one Idempotency-Key give one job, and another key gives another.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadJobSpec } from "../../server/cluster/create_job.ts";
import { readJobEvents } from "../../server/cluster/job_events.ts";
import { JobQueue } from "../../server/cluster/job_queue.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { natsTest } from "./_nats_test_server.ts";
import { withCluster } from "./_cluster_fixture.ts";
import { EXAMPLES, MODEL_ID, submitTestJob } from "./_worker_processes.ts";

natsTest(
  "a submitted job is stored, logged and queued once per Idempotency-Key",
  () =>
    withCluster(async (cluster) => {
      const jobs = await Promise.all(
        ["ftjob-1", "ftjob-2", "ftjob-3"].map((id) =>
          submitTestJob(cluster, id, `a-${id}`, 4, "key-1")
        ),
      );
      const winner = jobs[0].id;
      assert.ok(jobs.every((j) => j.id === winner), "every duplicate got the first job");
      const other = await submitTestJob(cluster, "ftjob-4", "b", 4, "key-2");
      assert.equal(other.id, "ftjob-4");
      const records = new JobRecords(cluster.jobs);
      assert.deepEqual((await records.list()).map((j) => j.id).sort(), [winner, "ftjob-4"].sort());
      assert.deepEqual((await loadJobSpec(cluster, winner)).examples, EXAMPLES);
      const events = await readJobEvents(cluster.js, winner);
      assert.deepEqual(events.map((e) => e.message), [
        `Created fine-tuning job ${winner} on ${EXAMPLES.length} examples`,
      ]);
      const queue = await JobQueue.open(cluster.js, cluster.jsm, MODEL_ID);
      const queued = [(await queue.next(1000))?.jobId, (await queue.next(1000))?.jobId];
      assert.deepEqual(queued.sort(), [winner, "ftjob-4"].sort());
      await assert.rejects(loadJobSpec(cluster, "ftjob-none"), /Job ftjob-none has no stored spec/);
    }),
);
