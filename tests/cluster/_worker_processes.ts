/**
 * Training worker processes for the cluster tests: the tiny fixture model written to a folder,
 * workers started as separate `deno` processes on it, and a job of synthetic records submitted
 * through the cluster.
 *
 * @module
 */
import { join } from "node:path";
import { fixtureModelFiles } from "../../server/_test_fixture.ts";
import { resolveLoraConfig, writeModelFiles } from "../../mod.ts";
import { IGNORE, type TokenizedExample } from "../../lib/train/batch.ts";
import type { Cluster } from "../../server/cluster/jetstream_setup.ts";
import { type JobSpec, submitJob } from "../../server/cluster/create_job.ts";
import { queuedJob } from "./_cluster_fixture.ts";

/** The fixture model's id in the cluster (its folder's name). */
export const MODEL_ID = "tiny";

/** Writes the tiny fixture model to `<root>/tiny` and returns that folder. */
export async function writeFixtureModel(root: string): Promise<string> {
  const dir = join(root, MODEL_ID);
  await writeModelFiles(dir, fixtureModelFiles());
  return dir;
}

/** A running worker process. */
export interface WorkerProcess {
  /** Its worker id. */
  id: string;
  /** Resolves once it printed that it is ready. */
  ready: Promise<void>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Everything it printed so far. */
  log(): string;
}

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;

/** Starts a worker process named `id` on `modelDir`. */
export function startWorker(
  id: string,
  natsUrl: string,
  modelDir: string,
  extra: string[] = [],
): WorkerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "--role",
      "worker",
      "--nats",
      natsUrl,
      "--model",
      modelDir,
      "--node-id",
      id,
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      output += decoder.decode(bytes, { stream: true });
      if (output.includes(`Worker ${id} ready`)) markReady();
    }
  };
  const done = Promise.all([read(child.stdout), read(child.stderr)]);
  let exited = false;
  return {
    id,
    ready: Promise.race([
      ready,
      child.status.then((s) => {
        throw new Error(`Worker ${id} exited (${s.code}) before it was ready:\n${output}`);
      }),
    ]),
    async kill() {
      if (exited) return;
      exited = true;
      child.kill("SIGKILL");
      await child.status;
      await done;
    },
    log: () => output,
  };
}

/** 16 synthetic records of 6 to 21 tokens (ids below the fixture's 512), first two masked. */
export const EXAMPLES: TokenizedExample[] = Array.from({ length: 16 }, (_, i) => {
  const inputIds = Array.from({ length: 6 + i }, (_, t) => (37 * i + 11 * t + 5) % 500);
  return { inputIds, labels: inputIds.map((id, t) => (t < 2 ? IGNORE : id)) };
});

/** Submits a job of {@linkcode EXAMPLES} for `steps` steps that saves adapter `adapterName`. */
export function submitTestJob(
  cluster: Cluster,
  id: string,
  adapterName: string,
  steps: number,
  idempotencyKey?: string,
) {
  const spec: JobSpec = {
    adapterName,
    examples: EXAMPLES,
    options: {
      lora: resolveLoraConfig({
        r: 4,
        alpha: 8,
        dropout: 0.1,
        targetModules: ["q_proj", "v_proj"],
      }),
      epochs: 100,
      maxSteps: steps,
      batchSize: 2,
      gradAccum: 2,
      lr: 1e-2,
      seed: 7,
    },
  };
  return submitJob(cluster, { ...queuedJob(id), model: MODEL_ID }, spec, idempotencyKey);
}
