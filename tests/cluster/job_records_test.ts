/**
 * Job records over a real nats-server: compare-and-swap writes from two writers at once lose
 * nothing, a worker whose attempt was superseded cannot write, and listing the jobs does not
 * wait for a record that a worker keeps writing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { JobRecords, StaleAttemptError } from "../../server/cluster/job_records.ts";
import { natsTest } from "./_nats_test_server.ts";
import { queuedJob, withCluster } from "./_cluster_fixture.ts";

natsTest(
  "concurrent compare-and-swap writes to one job all land",
  () =>
    withCluster(async (cluster) => {
      const records = new JobRecords(cluster.jobs);
      await records.create(queuedJob("ftjob-a"));
      await assert.rejects(records.create(queuedJob("ftjob-a")), /exists/);
      const claimed = await records.claim("ftjob-a", "w1");
      assert.equal(claimed?.attempt, 1);
      // 20 increments from concurrent writers: each reads, adds 1 and swaps; none may be lost.
      await Promise.all(
        Array.from({ length: 20 }, () =>
          records.write(
            "ftjob-a",
            1,
            (job) => ({ trained_tokens: (job.trained_tokens ?? 0) + 1 }),
          )),
      );
      assert.equal((await records.get("ftjob-a"))?.job.trained_tokens, 20);
    }),
);

natsTest(
  "a worker whose job was claimed again cannot write it",
  () =>
    withCluster(async (cluster) => {
      const records = new JobRecords(cluster.jobs);
      await records.create(queuedJob("ftjob-b"));
      await records.claim("ftjob-b", "zombie");
      const taken = await records.claim("ftjob-b", "rescuer");
      assert.deepEqual([taken?.attempt, taken?.owner], [2, "rescuer"]);
      await assert.rejects(
        records.write("ftjob-b", 1, () => ({ status: "failed" })),
        StaleAttemptError,
      );
      await records.write("ftjob-b", 2, () => ({ status: "succeeded" }));
      assert.equal((await records.get("ftjob-b"))?.job.status, "succeeded");
      assert.equal(await records.claim("ftjob-b", "late"), null, "a finished job is not claimed");
      assert.deepEqual((await records.list()).map((j) => j.id), ["ftjob-b"]);
    }),
);

natsTest(
  "cancelling a queued or paused job ends it; a running one is flagged for its owner",
  () =>
    withCluster(async (cluster) => {
      const records = new JobRecords(cluster.jobs);
      await records.create(queuedJob("ftjob-q"));
      assert.equal((await records.requestCancel("ftjob-q")).job.status, "cancelled");
      await records.create(queuedJob("ftjob-r"));
      await records.claim("ftjob-r", "w");
      await records.write("ftjob-r", 1, () => ({ status: "running" }));
      const flagged = await records.requestCancel("ftjob-r");
      assert.deepEqual([flagged.job.status, flagged.cancelRequested], ["running", true]);
      await records.create(queuedJob("ftjob-p"));
      await records.claim("ftjob-p", "w");
      await records.markPaused("ftjob-p", 1);
      assert.equal(await records.claim("ftjob-p", "w2"), null, "a paused job is not claimed");
      assert.equal((await records.requestCancel("ftjob-p")).job.status, "cancelled");
    }),
);

natsTest(
  "listing jobs does not wait for a job whose worker keeps writing its record",
  () =>
    withCluster(async (cluster) => {
      const records = new JobRecords(cluster.jobs);
      for (const id of ["ftjob-1", "ftjob-2", "ftjob-3"]) await records.create(queuedJob(id));
      await records.create(queuedJob("ftjob-busy"));
      await records.claim("ftjob-busy", "w");
      // A worker records its steps back to back (a job being trained on a fast GPU) while the
      // jobs are listed five times, each listing after at least one more write. With KV.keys()
      // a listing ended only after the writes stopped, so the writer also stops at a cap, a
      // hang guard: reaching it means a listing waited for the writes.
      let listed = false;
      let writing = true;
      let steps = 0;
      const cap = Date.now() + 60_000;
      const writer = (async () => {
        try {
          while (!listed && Date.now() < cap) {
            await records.write("ftjob-busy", 1, () => ({ trained_tokens: ++steps }));
          }
          return !listed; // true: stopped by the cap
        } finally {
          writing = false;
        }
      })();
      const ids: string[][] = [];
      try {
        for (let i = 0, seen = 0; i < 5; i++, seen = steps) {
          while (steps === seen && writing) await new Promise((resolve) => setTimeout(resolve, 1));
          ids.push((await records.list()).map((j) => j.id).sort());
        }
      } finally {
        listed = true;
      }
      assert.equal(await writer, false, "a listing waited for the record's writes to stop");
      const all = ["ftjob-1", "ftjob-2", "ftjob-3", "ftjob-busy"];
      assert.deepEqual(ids, Array(5).fill(all), "each listing has each job once");
    }),
);
