/**
 * A restart of NATS on file storage (issue 17, "done when" 7): a job record, its spec, its queued
 * work, its events and a published adapter are all there after nats-server is killed with
 * SIGKILL and started again on the same store, and the queued job is delivered as before.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AdapterStore } from "../../server/cluster/adapter_store.ts";
import { loadJobSpec } from "../../server/cluster/create_job.ts";
import { openCluster } from "../../server/cluster/jetstream_setup.ts";
import { readJobEvents } from "../../server/cluster/job_events.ts";
import { JobQueue } from "../../server/cluster/job_queue.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { natsTest, startNatsServer } from "./_nats_test_server.ts";
import { EXAMPLES, MODEL_ID, submitTestJob } from "./_worker_processes.ts";

natsTest("jobs, queued work and adapters survive a restart of nats-server", async () => {
  const storeDir = await Deno.makeTempDir({ prefix: "nats-restart-" });
  const adapterFiles = new Map([["adapter_model.safetensors", new Uint8Array([1, 2, 3])]]);
  let server = await startNatsServer({ storeDir });
  const port = new URL(server.url).port;
  let cluster = await openCluster({ servers: server.url });
  await submitTestJob(cluster, "ftjob-kept", "kept", 4);
  await new AdapterStore(cluster.adapterIndex, cluster.adapterFiles).publish("kept", adapterFiles);
  await cluster.nc.close();
  await server.kill();

  server = await startNatsServer({ storeDir, port: Number(port) });
  cluster = await openCluster({ servers: server.url });
  try {
    const record = await new JobRecords(cluster.jobs).get("ftjob-kept");
    assert.equal(record?.job.status, "queued");
    assert.deepEqual((await loadJobSpec(cluster, "ftjob-kept")).examples, EXAMPLES);
    assert.equal((await readJobEvents(cluster.js, "ftjob-kept")).length, 1);
    const adapters = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
    assert.deepEqual(await adapters.files((await adapters.get("kept"))!), adapterFiles);
    const queue = await JobQueue.open(cluster.js, cluster.jsm, MODEL_ID);
    assert.equal((await queue.next(2000))?.jobId, "ftjob-kept");
  } finally {
    await cluster.close();
    await server.stop();
    await Deno.remove(storeDir, { recursive: true });
  }
});
