/**
 * The cluster's end-to-end scenarios (issue 17, "done when" 2, 3, 4, 6 and 7), shared by the tests
 * (which assert what happened) and `benchmarks/cluster.ts` (which reports how long it took): a
 * nats-server, replicas and workers as separate `server/main.ts` processes on the tiny fixture,
 * and a connection of the test's own to publish adapters as a worker would.
 *
 * @module
 */
import { join } from "node:path";
import { type LoraWeights, type Model, serializePeftAdapter } from "../../mod.ts";
import { Rng } from "../../lib/util/rng.ts";
import { randomAdapter } from "../../server/_test_fixture.ts";
import { AdapterStore } from "../../server/cluster/adapter_store.ts";
import { type Cluster, openCluster } from "../../server/cluster/jetstream_setup.ts";
import {
  LOCAL_HEADER,
  RESIDENT_HEADER,
  SERVED_BY_HEADER,
} from "../../server/cluster/routed_generation.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import type { FineTuningJob, JobEvent } from "../../server/job_store.ts";
import { waitForRecord } from "./_cluster_fixture.ts";
import { type NatsTestServer, startNatsServer } from "./_nats_test_server.ts";
import {
  MODEL_ID,
  type NodeProcess,
  startReplica,
  startWorker,
  writeFixtureModel,
} from "./_worker_processes.ts";

/** The prompt of every generation. */
export const PROMPT = "Once upon a time";
/** Tokens generated per request. */
const MAX_TOKENS = 6;
/** How long a scenario waits for something that should happen in seconds, in ms. */
const PATIENCE_MS = 60_000;

/** A nats-server, replica and worker processes, and a client connection of the test's own. */
export interface TestCluster {
  /** The folder of the model, the replicas' adapters and the NATS store. */
  root: string;
  /** The fixture model's folder. */
  modelDir: string;
  /** The nats-server. */
  nats: NatsTestServer;
  /** The test's connection. */
  client: Cluster;
  /** The cluster's adapters, through the test's connection. */
  adapters: AdapterStore;
  /** The replica processes. */
  replicas: NodeProcess[];
  /** The worker processes. */
  workers: NodeProcess[];
  /** Kills every process (SIGKILL, NATS too) and closes the connection; the store stays. */
  kill(): Promise<void>;
}

/** Settings of {@linkcode startTestCluster}. */
export interface TestClusterOptions {
  /** Replica processes. */
  replicas: number;
  /** Worker processes. */
  workers: number;
  /** Flags of every worker (checkpoint interval, ack wait). */
  workerFlags?: string[];
  /** The folder to reuse (a restart), else a new one. */
  root?: string;
  /** The NATS port to reuse (a restart). */
  port?: number;
}

/**
 * Starts NATS (its store in `<root>/nats`), then the replicas (`r1`…) and workers (`w1`…), and
 * waits until all are ready.
 */
export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const root = options.root ?? await Deno.makeTempDir({ prefix: "cluster-e2e-" });
  const modelDir = options.root ? join(root, MODEL_ID) : await writeFixtureModel(root);
  const storeDir = join(root, "nats");
  await Deno.mkdir(storeDir, { recursive: true });
  const nats = await startNatsServer({ storeDir, port: options.port });
  const client = await openCluster({ servers: nats.url });
  const replicas = Array.from(
    { length: options.replicas },
    (_, i) => startReplica(`r${i + 1}`, nats.url, modelDir, root),
  );
  const workers = Array.from(
    { length: options.workers },
    (_, i) => startWorker(`w${i + 1}`, nats.url, modelDir, options.workerFlags ?? []),
  );
  const processes = [...replicas, ...workers];
  const kill = async () => {
    // Workers first and all at once: a job a test caught mid-run must not finish while the
    // replicas are being stopped (on an idle machine a tiny job's last steps take milliseconds).
    await Promise.all(workers.map((p) => p.kill()));
    await Promise.all(replicas.map((p) => p.kill()));
    await client.nc.close();
    await nats.kill();
  };
  try {
    await Promise.all(processes.map((p) => p.ready));
  } catch (e) {
    await kill();
    throw e;
  }
  const adapters = new AdapterStore(client.adapterIndex, client.adapterFiles);
  return { root, modelDir, nats, client, adapters, replicas, workers, kill };
}

/** A completion's outcome. */
export interface Completion {
  /** The HTTP status. */
  status: number;
  /** The generated text ("" on an error). */
  text: string;
  /** The replica that served it. */
  servedBy: string;
  /** Whether the adapter was resident where it ran (routed requests only). */
  resident: boolean;
}

/**
 * A greedy completion of {@linkcode PROMPT} with `model` from the replica at `url`, of
 * `maxTokens`; `local` makes that replica serve it itself instead of routing it.
 */
export async function complete(
  url: string,
  model: string,
  local = false,
  maxTokens = MAX_TOKENS,
): Promise<Completion> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (local) headers[LOCAL_HEADER] = "1";
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ model, prompt: PROMPT, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = await response.json();
  return {
    status: response.status,
    text: response.ok ? body.choices[0].text : "",
    servedBy: response.headers.get(SERVED_BY_HEADER) ?? "",
    resident: response.headers.get(RESIDENT_HEADER) === "true",
  };
}

/**
 * The text a replica should answer for `weights` (of `maxTokens`): the same greedy generation,
 * done here.
 */
export async function expectedText(
  model: Model,
  weights: LoraWeights,
  maxTokens = MAX_TOKENS,
): Promise<string> {
  model.addAdapter("expected", weights);
  try {
    const result = await model.generate(PROMPT, {
      adapter: "expected",
      template: "none",
      maxTokens,
      temperature: 0,
    });
    return result.text;
  } finally {
    model.removeAdapter("expected");
  }
}

/** Publishes `weights` as a new revision of adapter `name`, as a worker would. */
export function publishAdapter(c: TestCluster, model: Model, name: string, weights: LoraWeights) {
  return c.adapters.publish(name, serializePeftAdapter(weights, model.config, MODEL_ID));
}

/** Calls `attempt` every 25 ms until it returns a value, for at most `ms`. */
export async function poll<T>(what: string, attempt: () => Promise<T | null>, ms = PATIENCE_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Twelve instruction records for a short training job. */
const TRAINING_DATA = Array.from({ length: 12 }, (_, i) => ({
  instruction: `Count to ${i + 2}`,
  output: Array.from({ length: i + 2 }, (_, k) => k + 1).join(" "),
}));

/** The body of a request for a short job of `steps` steps training adapter `suffix`. */
export function jobRequest(suffix: string, steps: number) {
  return {
    model: MODEL_ID,
    suffix,
    training_data: TRAINING_DATA,
    seed: 3,
    hyperparameters: {
      max_steps: steps,
      lora_r: 4,
      batch_size: 2,
      gradient_accumulation_steps: 1,
      learning_rate: 1e-3,
    },
  };
}

/** Submits a short job (4 steps) training adapter `suffix` through the replica at `url`. */
export async function submitJob(
  url: string,
  suffix: string,
  steps: number,
  idempotencyKey?: string,
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  return await fetch(`${url}/v1/fine_tuning/jobs`, {
    method: "POST",
    headers,
    body: JSON.stringify(jobRequest(suffix, steps)),
  });
}

/** Polls job `id` through the replica at `url` until it has finished; returns it. */
export function finishedJob(url: string, id: string): Promise<FineTuningJob> {
  return poll(`job ${id} to finish`, async () => {
    const job: FineTuningJob = await (await fetch(`${url}/v1/fine_tuning/jobs/${id}`)).json();
    return ["succeeded", "failed", "cancelled"].includes(job.status) ? job : null;
  }, 5 * PATIENCE_MS);
}

/** What "done when" 2 saw: the job, and when each other replica served its adapter. */
export interface TrainedAdapterReach {
  /** The job, finished. */
  job: FineTuningJob;
  /** Per other replica: its id and ms from the adapter's publication to its first answer. */
  served: { replica: string; ms: number; text: string }[];
}

/**
 * "Done when" 2: adapter `name` is trained through the first replica's API; then every other
 * replica is asked (served there, not routed) until it answers with the adapter. Nothing else
 * is called on them.
 */
export async function trainedAdapterReach(
  c: TestCluster,
  name: string,
): Promise<TrainedAdapterReach> {
  const [a, ...others] = c.replicas;
  const created = await (await submitJob(a.url(), name, 4)).json();
  const job = await finishedJob(a.url(), created.id);
  if (job.status !== "succeeded") return { job, served: [] };
  const publishedAt = (await c.adapters.get(name))!.publishedAt;
  const served = await Promise.all(others.map(async (b) => {
    const answer = await poll(`${b.id} to serve ${name}`, async () => {
      const answer = await complete(b.url(), name, true);
      return answer.status === 200 ? answer : null;
    });
    return { replica: answer.servedBy, ms: Date.now() - publishedAt, text: answer.text };
  }));
  return { job, served };
}

/** One revision's propagation: the text it should give, and when each replica gave it. */
export interface RevisionReach {
  /** The revision number. */
  revision: number;
  /** The greedy text of the revision (computed here). */
  expected: string;
  /** Per replica: ms from the publication until it answered with the revision's text. */
  ms: number[];
}

/**
 * "Done when" 3: `count` revisions of adapter `name` (random weights from `seed` on) are
 * published one after the other; after each, every replica is asked (served there) until it
 * answers with that revision's text. Consecutive revisions must give different texts.
 */
export async function revisionReach(
  c: TestCluster,
  model: Model,
  name: string,
  count: number,
  seed: number,
): Promise<RevisionReach[]> {
  const reaches: RevisionReach[] = [];
  for (let i = 0; i < count; i++) {
    const weights = randomAdapter(model.config, seed + i);
    const expected = await expectedText(model, weights);
    if (expected === reaches.at(-1)?.expected) {
      throw new Error(`Seeds ${seed + i - 1} and ${seed + i} give the same text: pick others`);
    }
    const publishedAt = Date.now();
    const { revision } = await publishAdapter(c, model, name, weights);
    const ms = await Promise.all(c.replicas.map(async (r) => {
      await poll(`${r.id} to serve ${name} revision ${revision}`, async () => {
        const answer = await complete(r.url(), name, true);
        return answer.status === 200 && answer.text === expected ? answer : null;
      });
      return Date.now() - publishedAt;
    }));
    reaches.push({ revision, expected, ms });
  }
  return reaches;
}

/** What Zipf traffic over the replicas saw. */
export interface ZipfTraffic {
  /** Requests after warm-up. */
  requests: number;
  /** Of them, answered with a non-200 status. */
  failures: number;
  /** Of them, served where the adapter was resident. */
  resident: number;
  /** Of them, served where the adapter had to be loaded first. */
  loads: number;
  /** How long they took, in minutes. */
  minutes: number;
  /** Requests served per replica id. */
  perReplica: Record<string, number>;
}

/** Adapter names `z0`…`z<n-1>` of the Zipf scenario. */
export const zipfNames = (n: number): string[] => Array.from({ length: n }, (_, i) => `z${i}`);

/**
 * "Done when" 6: `adapters` random adapters are published; each is requested once (warm-up),
 * then `requests` requests go to random replicas (routed), their adapter drawn from a Zipf
 * distribution (exponent 1.1), three at a time.
 */
export async function zipfTraffic(
  c: TestCluster,
  model: Model,
  adapters: number,
  requests: number,
  seed: number,
): Promise<ZipfTraffic> {
  const names = zipfNames(adapters);
  for (const [i, name] of names.entries()) {
    await publishAdapter(c, model, name, randomAdapter(model.config, seed + i));
  }
  const rng = new Rng(seed);
  const replica = () => c.replicas[Math.floor(rng.nextFloat() * c.replicas.length)];
  for (const name of names) {
    await poll(`${name} to be served`, async () => {
      const answer = await complete(replica().url(), name);
      return answer.status === 200 ? answer : null;
    });
  }
  const weights = names.map((_, k) => 1 / (k + 1) ** 1.1);
  const total = weights.reduce((a, b) => a + b);
  const draw = () => {
    let u = rng.nextFloat() * total;
    for (const [k, w] of weights.entries()) if ((u -= w) <= 0) return names[k];
    return names.at(-1)!;
  };
  const plan = Array.from({ length: requests }, () => ({ url: replica().url(), name: draw() }));
  const result: ZipfTraffic = {
    requests,
    failures: 0,
    resident: 0,
    loads: 0,
    minutes: 0,
    perReplica: {},
  };
  const started = performance.now();
  const lanes = [0, 1, 2].map(async (lane) => {
    for (let i = lane; i < plan.length; i += 3) {
      const answer = await complete(plan[i].url, plan[i].name);
      if (answer.status !== 200) result.failures++;
      else if (answer.resident) result.resident++;
      else result.loads++;
      result.perReplica[answer.servedBy] = (result.perReplica[answer.servedBy] ?? 0) + 1;
    }
  });
  await Promise.all(lanes);
  result.minutes = (performance.now() - started) / 60_000;
  return result;
}

/** What requests to the surviving replicas saw after one was killed. */
export interface ReplicaKill {
  /** Each request: ms from the kill to its start, and whether it succeeded. */
  requests: { at: number; ok: boolean; name: string }[];
  /** Ms from the kill until a request for the adapter only the killed replica held succeeded. */
  soloServedMs: number;
}

/**
 * "Done when" 4: adapter `solo` is loaded on the last replica only, which is then killed with
 * SIGKILL; for `ms`, requests (routed) for `solo` and the `names` go to the other replicas, two
 * at a time.
 */
export async function replicaKill(
  c: TestCluster,
  model: Model,
  names: string[],
  ms: number,
): Promise<ReplicaKill> {
  const victim = c.replicas.at(-1)!;
  const survivors = c.replicas.slice(0, -1);
  await publishAdapter(c, model, "solo", randomAdapter(model.config, 99));
  await poll(`${victim.id} to serve solo`, async () => {
    const answer = await complete(victim.url(), "solo", true);
    return answer.status === 200 ? answer : null;
  });
  await victim.kill();
  const killedAt = performance.now();
  const result: ReplicaKill = { requests: [], soloServedMs: -1 };
  const rotation = ["solo", ...names];
  let n = 0;
  const lanes = [0, 1].map(async () => {
    while (performance.now() - killedAt < ms) {
      const i = n++;
      const name = rotation[i % rotation.length];
      const at = performance.now() - killedAt;
      const answer = await complete(survivors[i % survivors.length].url(), name);
      const ok = answer.status === 200;
      result.requests.push({ at, ok, name });
      if (ok && name === "solo" && result.soloServedMs < 0) {
        result.soloServedMs = performance.now() - killedAt;
      }
    }
  });
  await Promise.all(lanes);
  return result;
}

/** The `q`-quantile (0…1) of `values`, by the nearest rank. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** What a whole-cluster restart kept and how the jobs went on. */
export interface WholeRestart {
  /** The job running at the kill and the one queued behind it. */
  running: string;
  /** The job queued at the kill. */
  queued: string;
  /** The status of the queued job just before the kill. */
  queuedBefore: string;
  /** The job ids a replica lists after the restart. */
  jobsAfter: string[];
  /** The model ids a replica lists after the restart. */
  modelsAfter: string[];
  /** The text the published adapter gave after the restart, and the text it should give. */
  kept: { served: string; expected: string };
  /** The jobs as they finished after the restart. */
  finished: FineTuningJob[];
  /** The running job's events, oldest first. */
  events: JobEvent[];
  /** Ms from the restart's start (NATS, replicas, worker) until the running job was claimed. */
  resumedMs: number;
  /** Ms from the restart's start until both jobs had finished. */
  finishedMs: number;
}

/**
 * "Done when" 7: NATS on file storage, two replicas and one worker (so the second job is still
 * queued) are all killed with SIGKILL while a job of `steps` steps runs past a checkpoint and
 * another waits; the replicas' adapters folders are removed, and everything is started again on
 * the same store.
 */
export async function wholeRestart(model: Model, steps: number): Promise<WholeRestart> {
  const workerFlags = ["--checkpoint-every", "2", "--ack-wait-ms", "2000"];
  const before = await startTestCluster({ replicas: 2, workers: 1, workerFlags });
  const root = before.root;
  try {
    const weights = randomAdapter(model.config, 21);
    await publishAdapter(before, model, "kept", weights);
    const [r1, r2] = before.replicas.map((r) => r.url());
    const running: string = (await (await submitJob(r1, "long", steps)).json()).id;
    const queued: string = (await (await submitJob(r2, "later", 4)).json()).id;
    const records = new JobRecords(before.client.jobs);
    await waitForRecord(records, running, (r) => r.checkpoint !== null);
    const queuedBefore = (await records.get(queued))!.job.status;
    await before.kill();
    for (const r of before.replicas) {
      await Deno.remove(join(root, `adapters-${r.id}`), { recursive: true });
    }

    const restartedAt = performance.now();
    const port = Number(new URL(before.nats.url).port);
    const after = await startTestCluster({ replicas: 2, workers: 1, workerFlags, root, port });
    try {
      const url = after.replicas[0].url();
      const get = async (path: string) => (await (await fetch(`${url}${path}`)).json()).data;
      const jobsAfter = (await get("/v1/fine_tuning/jobs")).map((j: FineTuningJob) => j.id);
      const modelsAfter = (await get("/v1/models")).map((m: { id: string }) => m.id);
      const served = (await complete(after.replicas[1].url(), "kept", true)).text;
      const kept = { served, expected: await expectedText(model, weights) };
      await waitForRecord(new JobRecords(after.client.jobs), running, (r) => r.attempt === 2);
      const resumedMs = performance.now() - restartedAt;
      const finished = [await finishedJob(url, running), await finishedJob(url, queued)];
      const finishedMs = performance.now() - restartedAt;
      const events = [...await get(`/v1/fine_tuning/jobs/${running}/events?limit=100`)].reverse();
      return {
        running,
        queued,
        queuedBefore,
        jobsAfter,
        modelsAfter,
        kept,
        finished,
        events,
        resumedMs,
        finishedMs,
      };
    } finally {
      await after.kill();
    }
  } finally {
    await before.kill();
    await Deno.remove(root, { recursive: true });
  }
}
