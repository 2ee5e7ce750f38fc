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
  return {
    object: "fine_tuning.job",
    id,
    model: "tiny",
    created_at: 1_700_000_000,
    finished_at: null,
    fine_tuned_model: null,
    organization_id: "local",
    result_files: [],
    status: "queued",
    validation_file: null,
    training_file: null,
    hyperparameters: {
      n_epochs: 1,
      batch_size: 1,
      learning_rate: 1e-3,
      lora_r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      target_modules: ["q_proj"],
      max_steps: null,
      gradient_accumulation_steps: 1,
      max_length: 64,
    },
    trained_tokens: null,
    error: null,
    seed: 1,
    estimated_finish: null,
    user_provided_suffix: null,
    integrations: [],
    last_checkpoint: null,
  };
}
