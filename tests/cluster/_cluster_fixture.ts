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
import { sampleJob } from "../../server/_test_fixture.ts";
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
