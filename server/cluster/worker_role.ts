/**
 * The worker role of `server/main.ts --nats URL --role worker|all`: a training worker that loads
 * its own copy of the base model on WebGPU and runs that model's fine-tuning jobs from the
 * cluster's queue until it is stopped (a job it is running then goes to another worker).
 *
 * @module
 */
import { loadModel } from "../../mod.ts";
import type { Cluster } from "./jetstream_setup.ts";
import type { QueueOptions } from "./job_queue.ts";
import { TrainingWorker } from "./training_worker.ts";

/** Settings of {@linkcode runWorker}. */
export interface WorkerRoleOptions {
  /** The base model's folder or URL. */
  model: string;
  /** The base model's id (the queue it serves). */
  modelId: string;
  /** This worker's name in job records. */
  workerId: string;
  /** Checkpoint every N steps. */
  checkpointEvery: number;
  /** The queue's ack wait and attempts. */
  queue: QueueOptions;
  /** The longest sequence it trains. */
  maxContext?: number;
}

/**
 * Loads the model, prints `Worker <id> ready`, and runs jobs until `signal` aborts; the model
 * is freed after.
 */
export async function runWorker(
  cluster: Cluster,
  options: WorkerRoleOptions,
  signal: AbortSignal,
): Promise<void> {
  const model = await loadModel(options.model, {
    backend: "webgpu",
    maxContext: options.maxContext,
  });
  try {
    const worker = await TrainingWorker.open(cluster, model, {
      workerId: options.workerId,
      modelId: options.modelId,
      checkpointEvery: options.checkpointEvery,
      queue: options.queue,
      warn: (message) => console.warn(`[${options.workerId}] ${message}`),
    });
    console.log(`Worker ${options.workerId} ready: model ${options.modelId}`);
    await worker.run(signal);
  } finally {
    model.dispose();
  }
}
