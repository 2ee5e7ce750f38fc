/**
 * A training worker process: `deno run -A server/cluster/worker_main.ts --nats URL --model DIR`.
 * It loads the base model on WebGPU and runs that model's fine-tuning jobs from the cluster's
 * queue until SIGINT or SIGTERM (a job it is running then goes to another worker).
 *
 * @module
 */
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { loadModel } from "../../mod.ts";
import { openCluster } from "./jetstream_setup.ts";
import { TrainingWorker } from "./training_worker.ts";

const USAGE = "Usage: deno run -A server/cluster/worker_main.ts --nats nats://HOST:PORT[,…] " +
  "--model DIR [--model-id ID] [--checkpoint-every N] [--ack-wait-ms MS] [--max-attempts N] " +
  "[--worker-id NAME]";

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  Deno.exit(2);
}

/** An integer flag ≥ `min`, or `fallback` when absent. */
function integer(value: string | undefined, name: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    fail(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

let flags;
try {
  flags = parseArgs({
    args: Deno.args,
    strict: true,
    allowPositionals: false,
    options: {
      nats: { type: "string" },
      model: { type: "string" },
      "model-id": { type: "string" },
      "checkpoint-every": { type: "string" },
      "ack-wait-ms": { type: "string" },
      "max-attempts": { type: "string" },
      "worker-id": { type: "string" },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (!flags.nats) fail("--nats is required");
if (!flags.model) fail("--model is required");

const modelId = flags["model-id"] ?? basename(flags.model);
const workerId = flags["worker-id"] ?? `worker-${Deno.hostname()}-${Deno.pid}`;
const model = await loadModel(flags.model, { backend: "webgpu" });
const cluster = await openCluster({ servers: flags.nats.split(",") });
const worker = await TrainingWorker.open(cluster, model, {
  workerId,
  modelId,
  checkpointEvery: integer(flags["checkpoint-every"], "checkpoint-every", 0, 10),
  queue: {
    ackWaitMs: integer(flags["ack-wait-ms"], "ack-wait-ms", 100, 4000),
    maxAttempts: integer(flags["max-attempts"], "max-attempts", 1, 3),
  },
  warn: (message) => console.warn(`[${workerId}] ${message}`),
});
const stop = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stop.abort());
}
console.log(`Worker ${workerId} ready: model ${modelId}`);
await worker.run(stop.signal);
await cluster.close();
model.dispose();
