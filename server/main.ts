/**
 * The server's entry point: parses flags, starts loading the model, and serves the app.
 *
 *   deno task serve --model DIR [--adapter NAME=DIR ...] [--host 127.0.0.1] [--port 8000]
 *     [--api-key KEY] [--adapters-dir ./adapters] [--data-dir DIR] [--max-queue 32]
 *     [--backend auto|webgpu|cpu] [--max-context N] [--kv-cache f32|f16] [--max-tokens 512]
 *     [--checkpoint-every 50] [--no-training] [--cors-origin ORIGIN ...]
 *     [--max-queued-jobs 8] [--max-job-records 100] [--header-timeout 10] [--body-timeout 30]
 *     [--max-batch 16] [--max-loras 4] [--max-lora-rank 16] [--served-model-name NAME]
 *     [--lora-modules NAME=DIR ...]
 *     [--nats nats://HOST:PORT[,…] [--role replica|worker|all] [--node-id NAME]
 *      [--nats-replicas 1|3] [--ack-wait-ms 4000] [--max-attempts 3]]
 *
 * On WebGPU, concurrent generations decode together in batches of up to --max-batch sequences
 * (continuous batching), each with its own adapter; --max-loras adapters stay resident on the
 * GPU (least recently used replaced), of rank at most --max-lora-rank. --lora-modules is
 * vLLM's name for --adapter; --served-model-name sets the base model's id.
 *
 * With `--nats`, the server joins a cluster over NATS JetStream (see server/README.md,
 * "Cluster"): a `replica` serves the whole API from the cluster's adapters, jobs and files,
 * routing adapter generations to replicas that hold the adapter; a `worker` serves no HTTP and
 * trains the cluster's jobs for its base model; `all` (the default) is both, the worker on a
 * second copy of the model. Without `--nats`, nothing of this runs.
 *
 * The API key may also come from the environment variable `WEBGPU_LORA_API_KEY`; an empty key
 * (flag or variable) is refused rather than read as "no authentication".
 * `GET /health` answers 503 while the model loads, then 200. `/` serves the browser playground
 * (`web/`, with the build `deno task serve` writes first in `dist/`, and the model at `/model/`).
 *
 * @module
 */
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_LORA_RANK, isKvCacheDtype, loadModel } from "../mod.ts";
import { checkApiKey, createApp } from "./app.ts";
import { ClusterFineTuning } from "./cluster/cluster_jobs.ts";
import { type Cluster, DEFAULT_REPLICA_TTL_MS, openCluster } from "./cluster/jetstream_setup.ts";
import { type Replica, startReplica } from "./cluster/replica.ts";
import { routeGenerations } from "./cluster/routed_generation.ts";
import { runWorker } from "./cluster/worker_role.ts";
import { serveGuarded } from "./connection_guard.ts";
import { ServerEngine } from "./engine.ts";
import { SERVER_DEFAULTS } from "./engine_options.ts";
import { webRoutes } from "./web_routes.ts";

const USAGE = "Usage: deno task serve --model DIR [--adapter NAME=DIR ...] [--host 127.0.0.1] " +
  "[--port 8000] [--api-key KEY] [--adapters-dir DIR] [--data-dir DIR] [--max-queue N] " +
  "[--backend auto|webgpu|cpu] [--max-context N] [--kv-cache f32|f16] [--max-tokens N] " +
  "[--checkpoint-every N] [--no-training] [--cors-origin ORIGIN ...] [--max-queued-jobs N] " +
  "[--max-job-records N] [--header-timeout SECONDS] [--body-timeout SECONDS] [--max-batch N] " +
  "[--max-loras N] [--max-lora-rank N] [--served-model-name NAME] [--lora-modules NAME=DIR ...] " +
  "[--nats nats://HOST:PORT[,…] [--role replica|worker|all] [--node-id NAME] " +
  "[--nats-replicas 1|3] [--ack-wait-ms MS] [--max-attempts N]]";

/** How long a generation routed to another replica may take, in ms. */
const ROUTE_TIMEOUT_MS = 120_000;

/** Adapters resident on the GPU for batched generation unless --max-loras says otherwise. */
const DEFAULT_MAX_LORAS = 4;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  Deno.exit(2);
}

/** An integer flag in [`min`, `max`], or undefined when absent (the engine's default applies). */
function integer(
  value: string | undefined,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    fail(`--${name} must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

let flags;
try {
  flags = parseArgs({
    args: Deno.args,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: "string" },
      adapter: { type: "string", multiple: true },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "api-key": { type: "string" },
      "adapters-dir": { type: "string", default: "./adapters" },
      "data-dir": { type: "string" },
      "max-queue": { type: "string" },
      backend: { type: "string", default: "auto" },
      "max-context": { type: "string" },
      "kv-cache": { type: "string" },
      "max-tokens": { type: "string" },
      "checkpoint-every": { type: "string" },
      "no-training": { type: "boolean" },
      "cors-origin": { type: "string", multiple: true },
      "max-queued-jobs": { type: "string" },
      "max-job-records": { type: "string" },
      "header-timeout": { type: "string" },
      "body-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
      "max-batch": { type: "string" },
      "max-loras": { type: "string" },
      "max-lora-rank": { type: "string" },
      "served-model-name": { type: "string" },
      "lora-modules": { type: "string", multiple: true },
      nats: { type: "string" },
      role: { type: "string" },
      "node-id": { type: "string" },
      "nats-replicas": { type: "string" },
      "ack-wait-ms": { type: "string" },
      "max-attempts": { type: "string" },
    },
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (flags.help) {
  console.log(`Serves a model over an OpenAI-compatible API.\n\n${USAGE}`);
  Deno.exit(0);
}
if (!flags.model) fail("Missing --model DIR");
const backend = flags.backend;
if (backend !== "auto" && backend !== "webgpu" && backend !== "cpu") {
  fail(`--backend must be auto, webgpu or cpu, got ${JSON.stringify(backend)}`);
}
const kvCacheDtype = flags["kv-cache"];
if (kvCacheDtype !== undefined && !isKvCacheDtype(kvCacheDtype)) {
  fail(`--kv-cache must be f32 or f16, got ${JSON.stringify(kvCacheDtype)}`);
}
const adapters: Record<string, string> = {};
const specs = [
  ...(flags.adapter ?? []).map((spec) => ({ flag: "adapter", spec })),
  ...(flags["lora-modules"] ?? []).map((spec) => ({ flag: "lora-modules", spec })),
];
for (const { flag, spec } of specs) {
  const at = spec.indexOf("=");
  if (at < 1 || at === spec.length - 1) {
    fail(`--${flag} must be NAME=DIR, got ${JSON.stringify(spec)}`);
  }
  adapters[spec.slice(0, at)] = spec.slice(at + 1);
}
const host = flags.host;
const port = integer(flags.port, "port", 0, 65535) ?? 8000;
const maxContext = integer(flags["max-context"], "max-context", 2);
let apiKey: string | null = null;
try {
  apiKey = checkApiKey(flags["api-key"] ?? Deno.env.get("WEBGPU_LORA_API_KEY") ?? null);
} catch (e) {
  fail(
    `${(e as Error).message} (from ${
      flags["api-key"] !== undefined ? "--api-key" : "WEBGPU_LORA_API_KEY"
    })`,
  );
}
const role = flags.role ?? "all";
if (role !== "replica" && role !== "worker" && role !== "all") {
  fail(`--role must be replica, worker or all, got ${JSON.stringify(role)}`);
}
const clusterOnly = ["role", "node-id", "nats-replicas", "ack-wait-ms", "max-attempts"] as const;
for (const name of clusterOnly) {
  if (flags[name] !== undefined && !flags.nats) fail(`--${name} needs --nats`);
}
const nodeId = flags["node-id"] ?? `${Deno.hostname()}-${Deno.pid}`;
const maxQueue = integer(flags["max-queue"], "max-queue", 1);
const checkpointEvery = integer(flags["checkpoint-every"], "checkpoint-every", 0);
/** Connects to the cluster named by --nats, or null without it; exits when it cannot. */
async function joinCluster(nats: string | undefined): Promise<Cluster | null> {
  if (!nats) return null;
  const replicas = integer(flags!["nats-replicas"], "nats-replicas", 1, 5);
  try {
    return await openCluster({ servers: nats.split(","), replicas });
  } catch (e) {
    console.error(`Cannot join the cluster at ${nats}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
const cluster = await joinCluster(flags.nats);
const stopWorker = new AbortController();
const worker = cluster && role !== "replica"
  ? runWorker(cluster, {
    model: flags.model,
    modelId: flags["served-model-name"] ?? basename(flags.model.replace(/[\\/]+$/, "")),
    workerId: nodeId,
    checkpointEvery: checkpointEvery ?? SERVER_DEFAULTS.checkpointEvery,
    queue: {
      ackWaitMs: integer(flags["ack-wait-ms"], "ack-wait-ms", 100),
      maxAttempts: integer(flags["max-attempts"], "max-attempts", 1),
    },
    maxContext,
  }, stopWorker.signal).catch((e) => {
    console.error(`The training worker failed: ${(e as Error).message}`);
    Deno.exit(1);
  })
  : null;
if (cluster && role === "worker") {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stopWorker.abort());
  }
  await worker;
  await cluster.close();
  Deno.exit(0);
}

const loopbackOnly = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/.test(host);

const maxQueuedJobs = integer(flags["max-queued-jobs"], "max-queued-jobs", 1);
const maxJobRecords = integer(flags["max-job-records"], "max-job-records", 1);
const engine = new ServerEngine(loadModel(flags.model, { backend, maxContext, kvCacheDtype }), {
  adaptersDir: flags["adapters-dir"],
  dataDir: flags["data-dir"] ?? null,
  adapters,
  maxQueue,
  maxTokens: integer(flags["max-tokens"], "max-tokens", 1),
  checkpointEvery,
  training: !flags["no-training"],
  maxQueuedJobs,
  maxJobRecords,
  modelId: flags["served-model-name"],
  jobs: cluster
    ? (model, modelId) =>
      new ClusterFineTuning(cluster, model, {
        modelId,
        dataDir: flags["data-dir"] ?? null,
        maxLength: model.maxContext,
        maxFileBytes: SERVER_DEFAULTS.maxDataFileBytes,
        maxQueuedJobs: maxQueuedJobs ?? SERVER_DEFAULTS.maxQueuedJobs,
        maxJobRecords: maxJobRecords ?? SERVER_DEFAULTS.maxJobRecords,
      })
    : undefined,
  batch: {
    maxBatch: integer(flags["max-batch"], "max-batch", 1) ?? DEFAULT_MAX_BATCH,
    maxLoras: integer(flags["max-loras"], "max-loras", 0) ?? DEFAULT_MAX_LORAS,
    maxLoraRank: integer(flags["max-lora-rank"], "max-lora-rank", 1) ?? DEFAULT_MAX_LORA_RANK,
  },
});
engine.ready.then(
  () => console.log(`Model ${engine.modelId} ready on ${engine.model.backend}`),
  (e) => {
    console.error(`Loading failed: ${(e as Error).message}`);
    Deno.exit(1);
  },
);
if (!loopbackOnly && !apiKey) {
  console.warn(
    `Listening on ${host} without --api-key: generation is open to anyone who can reach it; ` +
      "training and adapter routes are disabled",
  );
}

let replica: Replica | null = null;
let app;
try {
  app = createApp(engine, {
    apiKey,
    loopbackOnly,
    corsOrigins: flags["cors-origin"] ?? [],
    routeGenerations: cluster
      ? routeGenerations(engine, nodeId, () => replica?.router ?? null)
      : undefined,
  });
} catch (e) {
  fail((e as Error).message);
}
// The playground, its build, and the model folder (a model given as a URL is not re-served).
app.route("/", webRoutes({ modelDir: /^[a-z]+:\/\//.test(flags.model) ? null : flags.model }));
let listening = "";
const onListen = ({ hostname, port }: Deno.NetAddr) => {
  listening = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  console.log(`Listening on ${listening}/`);
};
const headerTimeout = integer(flags["header-timeout"], "header-timeout", 0) ?? 10;
const bodyTimeout = integer(flags["body-timeout"], "body-timeout", 0) ?? 30;
// Slow clients (slowloris) are cut off by the guard; both timeouts 0 serve without it.
let server: Deno.HttpServer | Awaited<ReturnType<typeof serveGuarded>>;
try {
  server = headerTimeout === 0 && bodyTimeout === 0
    ? Deno.serve({ hostname: host, port, onListen }, app.fetch)
    : await serveGuarded({
      hostname: host,
      port,
      headerTimeoutMs: (headerTimeout || 1e6) * 1000,
      bodyTimeoutMs: (bodyTimeout || 1e6) * 1000,
      onListen,
    }, app.fetch);
} catch (e) {
  const reason = e instanceof Deno.errors.AddrInUse
    ? "the port is in use (is another server running? choose another --port)"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need privileges)"
    : (e as Error).message;
  console.error(`Cannot listen on ${host}:${port}: ${reason}`);
  Deno.exit(1);
}
const stop = async () => {
  await replica?.stop();
  stopWorker.abort(); // a cluster job goes back to the queue for another worker
  await worker;
  await engine.close(); // a local running job is marked interrupted, with its last checkpoint
  await server.shutdown(); // lets streams in flight finish
  await cluster?.close();
  Deno.exit(0);
};
for (
  const signal of Deno.build.os === "windows" ? ["SIGINT"] as const : ["SIGINT", "SIGTERM"] as const
) {
  Deno.addSignalListener(signal, stop);
}
if (cluster) {
  try {
    replica = await startReplica(cluster, engine, app.fetch, {
      replicaId: nodeId,
      url: listening,
      capacity: maxQueue ?? SERVER_DEFAULTS.maxQueue,
      timeoutMs: ROUTE_TIMEOUT_MS,
      registryTtlMs: DEFAULT_REPLICA_TTL_MS,
      warn: (message) => console.warn(`[${nodeId}] ${message}`),
    });
    console.log(`Replica ${nodeId} joined the cluster`);
  } catch (e) {
    console.error(`Joining the cluster failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
