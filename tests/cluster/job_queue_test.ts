/**
 * The job queue and events over a real nats-server: a held job stays with its worker past
 * ack_wait while heartbeats flow, goes to another worker once they stop, and is given up after
 * max_deliver, after which one more delivery says the attempts are exhausted; duplicate job events are dropped.
 *
 * @module
 */
import assert from "node:assert/strict";
import { enqueueJob, JobQueue } from "../../server/cluster/job_queue.ts";
import { publishJobEvent, readJobEvents } from "../../server/cluster/job_events.ts";
import type { JobEvent } from "../../server/job_store.ts";
import { natsTest } from "./_nats_test_server.ts";
import { withCluster } from "./_cluster_fixture.ts";

const ACK_WAIT = 1000;

natsTest(
  "heartbeats keep a job; silence hands it to another worker",
  () =>
    withCluster(async (cluster) => {
      const { js, jsm } = cluster;
      const a = await JobQueue.open(js, jsm, "org/model.v1", {
        ackWaitMs: ACK_WAIT,
        maxAttempts: 1,
      });
      const b = await JobQueue.open(js, jsm, "org/model.v1", {
        ackWaitMs: ACK_WAIT,
        maxAttempts: 1,
      });
      await enqueueJob(js, "org/model.v1", "ftjob-1");
      await enqueueJob(js, "org/model.v1", "ftjob-1"); // a duplicate publish queues nothing
      const held = await a.next(2000);
      assert.deepEqual([held?.jobId, held?.delivery, held?.exhausted], ["ftjob-1", 1, false]);
      // Three ack waits with heartbeats: nobody else gets the job.
      assert.equal(await b.next(3 * ACK_WAIT), null);
      held!.abandon(); // the worker "dies"
      const start = Date.now();
      const taken = await b.next(3 * ACK_WAIT);
      const takeover = Date.now() - start;
      assert.deepEqual([taken?.jobId, taken?.delivery, taken?.exhausted], ["ftjob-1", 2, true]);
      assert.ok(
        takeover < ACK_WAIT + 500,
        `redelivered ${takeover} ms after the heartbeats stopped`,
      );
      taken!.abandon();
      assert.equal(await a.next(2 * ACK_WAIT), null, "no delivery past max_deliver");
    }),
);

natsTest("an acked job is gone from the queue", () =>
  withCluster(async (cluster) => {
    const q = await JobQueue.open(cluster.js, cluster.jsm, "m", { ackWaitMs: ACK_WAIT });
    await enqueueJob(cluster.js, "m", "ftjob-2");
    await (await q.next(2000))!.ack();
    assert.equal(await q.next(2 * ACK_WAIT), null);
  }));

natsTest(
  "a job event published twice under one key is kept once",
  () =>
    withCluster(async (cluster) => {
      const event = (message: string): JobEvent => ({
        object: "fine_tuning.job.event",
        id: `ftevent-${message}`,
        created_at: 1,
        level: "info",
        message,
        type: "message",
        data: null,
      });
      assert.equal(await publishJobEvent(cluster.js, "ftjob-3", "step-1", event("one")), true);
      assert.equal(await publishJobEvent(cluster.js, "ftjob-3", "step-1", event("again")), false);
      await publishJobEvent(cluster.js, "ftjob-3", "step-2", event("two"));
      await publishJobEvent(cluster.js, "ftjob-other", "step-1", event("elsewhere"));
      const events = await readJobEvents(cluster.js, "ftjob-3");
      assert.deepEqual(events.map((e) => e.message), ["one", "two"]);
    }),
);
