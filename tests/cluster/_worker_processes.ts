/**
 * Cluster processes for the tests: the tiny fixture model written to a folder, replicas and
 * workers started as separate `server/main.ts` processes on it, and a job of synthetic records submitted
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

/** A running `server/main.ts` process of the cluster (a worker or a replica). */
export interface NodeProcess {
  /** Its node id. */
  id: string;
  /** Resolves once it printed that it is ready. */
  ready: Promise<void>;
  /** Where a replica's HTTP API listens (`http://127.0.0.1:PORT`), once ready; "" for a worker. */
  url(): string;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Everything it printed so far. */
  log(): string;
}

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;

/** Starts `server/main.ts` with `args`; ready once its output matches `readyText`. */
function startNode(id: string, args: string[], readyText: string): NodeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", MAIN, "--node-id", id, ...args],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
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
      if (output.includes(readyText)) markReady();
    }
  };
  const done = Promise.all([read(child.stdout), read(child.stderr)]);
  let exited = false;
  return {
    id,
    ready: Promise.race([
      ready,
      child.status.then((s) => {
        throw new Error(`Node ${id} exited (${s.code}) before it was ready:\n${output}`);
      }),
    ]),
    url: () => /Listening on (http:\/\/\S+?)\/\n/.exec(output)?.[1] ?? "",
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

/** Starts a training worker process named `id` on `modelDir` (`--role worker`). */
export function startWorker(
  id: string,
  natsUrl: string,
  modelDir: string,
  extra: string[] = [],
): NodeProcess {
  const args = ["--role", "worker", "--nats", natsUrl, "--model", modelDir, ...extra];
  return startNode(id, args, `Worker ${id} ready`);
}

/**
 * Starts a replica process named `id` on `modelDir` (`--role replica`, a free port, its own
 * adapters folder under `root`).
 */
export function startReplica(
  id: string,
  natsUrl: string,
  modelDir: string,
  root: string,
): NodeProcess {
  const args = [
    ...["--role", "replica", "--nats", natsUrl, "--model", modelDir, "--port", "0"],
    ...["--adapters-dir", join(root, `adapters-${id}`), "--max-context", "256"],
  ];
  return startNode(id, args, `Replica ${id} joined the cluster`);
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
