/**
 * A replica's API over a real nats-server, in this process: NATS failures answer 503
 * `cluster_unavailable` with a Retry-After (never 500), and the queue's limits hold in a cluster
 * (`--max-queued-jobs` refuses with 429, `--max-job-records` deletes the oldest finished records).
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { clusterUnavailable } from "../../server/cluster/cluster_errors.ts";
import { openCluster } from "../../server/cluster/jetstream_setup.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { JOBS_BUCKET } from "../../server/cluster/names.ts";
import { natsTest, startNatsServer } from "./_nats_test_server.ts";
import { clusterApi, queuedJob, withCluster } from "./_cluster_fixture.ts";
import { jobRequest } from "./_cluster_scenarios.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

const post = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function expectUnavailable(response: Response): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, 503, JSON.stringify(body));
  assert.equal(response.headers.get("retry-after"), "2");
  assert.equal(body.error.code, "cluster_unavailable");
  assert.equal(body.error.type, "server_error");
}

natsTest("NATS failures answer 503 cluster_unavailable with a Retry-After", async () => {
  const nats = await startNatsServer();
  const cluster = await openCluster({ servers: nats.url, apiTimeoutMs: 500 });
  const { app, engine } = await clusterApi(cluster, "cpu");
  try {
    assert.equal((await app.request("/v1/fine_tuning/jobs")).status, 200);
    // A JetStream API error: the jobs bucket's stream is gone.
    await cluster.jsm.streams.delete(`KV_${JOBS_BUCKET}`);
    await expectUnavailable(await app.request("/v1/fine_tuning/jobs"));
    // The server is gone: the client reconnects, and its requests time out meanwhile.
    await nats.kill();
    await expectUnavailable(await app.request("/v1/fine_tuning/jobs/ftjob-x"));
    // The connection is closed.
    await cluster.nc.close();
    await expectUnavailable(await app.request("/v1/fine_tuning/jobs/ftjob-x/cancel", post({})));
    // Recognised by the error's class, not its words.
    assert.equal(clusterUnavailable(new Error("TIMEOUT: no responders")), null);
  } finally {
    await engine.close();
    await cluster.nc.close();
    await nats.stop();
  }
});

natsTest(
  "a cluster honours --max-queued-jobs and --max-job-records",
  () =>
    withCluster(async (cluster) => {
      const records = new JobRecords(cluster.jobs);
      for (const [i, status] of (["succeeded", "failed", "cancelled"] as const).entries()) {
        await records.create({ ...queuedJob(`ftjob-old${i}`), created_at: 1_000 + i });
        await records.write(`ftjob-old${i}`, 0, () => ({ status }));
      }
      const { app, engine } = await clusterApi(cluster, "webgpu", {
        maxQueuedJobs: 2,
        maxJobRecords: 3,
      });
      try {
        const ids = [];
        for (const suffix of ["a", "b"]) {
          const created = await app.request("/v1/fine_tuning/jobs", post(jobRequest(suffix, 2)));
          const job = await created.json();
          assert.equal(created.status, 200, JSON.stringify(job));
          ids.push(job.id);
        }
        const refused = await app.request("/v1/fine_tuning/jobs", post(jobRequest("c", 2)));
        assert.equal(refused.status, 429);
        assert.equal((await refused.json()).error.code, "too_many_jobs");
        // Two jobs over 3 records: the two oldest finished ones went; queued ones are kept.
        const listed = await (await app.request("/v1/fine_tuning/jobs")).json();
        assert.deepEqual(
          listed.data.map((j: { id: string }) => j.id).sort(),
          [...ids, "ftjob-old2"].sort(),
        );
      } finally {
        await engine.close();
      }
    }),
  gpuMissing,
);
