/**
 * A nats-server and an open {@linkcode Cluster} on it, for the tests of one cluster piece.
 *
 * @module
 */
import {
  type Cluster,
  type ClusterOptions,
  openCluster,
} from "../../server/cluster/jetstream_setup.ts";
import type { FineTuningJob } from "../../server/job_store.ts";
import { fixtureServer, loadFixtureModel, sampleJob } from "../../server/_test_fixture.ts";
import {
  ClusterFineTuning,
  type ClusterFineTuningOptions,
} from "../../server/cluster/cluster_jobs.ts";
import type { JobRecord, JobRecords } from "../../server/cluster/job_records.ts";
import { startNatsServer } from "./_nats_test_server.ts";

/** Runs `fn` with a fresh nats-server and a cluster connection, stopping both after. */
export async function withCluster(
  fn: (cluster: Cluster, url: string) => Promise<void>,
  options: Omit<ClusterOptions, "servers"> = {},
) {
  const server = await startNatsServer();
  const cluster = await openCluster({ ...options, servers: server.url });
  try {
    await fn(cluster, server.url);
  } finally {
    await cluster.close();
    await server.stop();
  }
}

/**
 * A replica's API in this process: the app over the fixture model on `backend` (creating jobs
 * needs WebGPU), its jobs in `cluster` (with the queue's `limits`; 8 queued and 100 records
 * unless set).
 */
export async function clusterApi(
  cluster: Cluster,
  backend: "cpu" | "webgpu",
  limits: Partial<Pick<ClusterFineTuningOptions, "maxQueuedJobs" | "maxJobRecords">> = {},
) {
  const model = await loadFixtureModel(backend);
  return await fixtureServer(model, {
    engine: {
      jobs: (model, modelId) =>
        new ClusterFineTuning(cluster, model, {
          modelId,
          dataDir: null,
          maxLength: model.maxContext,
          maxFileBytes: 1 << 20,
          maxQueuedJobs: 8,
          maxJobRecords: 100,
          ...limits,
        }),
    },
  });
}

/** A queued job record with id `id`. */
export function queuedJob(id: string): FineTuningJob {
  const job = sampleJob(id);
  return {
    ...job,
    hyperparameters: { ...job.hyperparameters, learning_rate: 1e-3, max_steps: null },
  };
}

/** Polls the job's record until `check` holds; throws with the last record after `ms`. */
export async function waitForRecord(
  records: JobRecords,
  id: string,
  check: (r: JobRecord) => boolean,
  ms = 120_000,
): Promise<JobRecord> {
  const deadline = Date.now() + ms;
  for (;;) {
    const record = await records.get(id);
    if (record && check(record)) return record;
    if (Date.now() > deadline) throw new Error(`Job ${id} timed out: ${JSON.stringify(record)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
