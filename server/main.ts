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
 *
 * On WebGPU, concurrent generations decode together in batches of up to --max-batch sequences
 * (continuous batching), each with its own adapter; --max-loras adapters stay resident on the
 * GPU (least recently used replaced), of rank at most --max-lora-rank. --lora-modules is
 * vLLM's name for --adapter; --served-model-name sets the base model's id.
 *
 * The API key may also come from the environment variable `WEBGPU_LORA_API_KEY`; an empty key
 * (flag or variable) is refused rather than read as "no authentication".
 * `GET /health` answers 503 while the model loads, then 200. `/` serves the browser playground
 * (`web/`, with the build `deno task serve` writes first in `dist/`, and the model at `/model/`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_LORA_RANK, isKvCacheDtype, loadModel } from "../mod.ts";
import { checkApiKey, createApp } from "./app.ts";
import { serveGuarded } from "./connection_guard.ts";
import { ServerEngine } from "./engine.ts";
import { webRoutes } from "./web_routes.ts";

const USAGE = "Usage: deno task serve --model DIR [--adapter NAME=DIR ...] [--host 127.0.0.1] " +
  "[--port 8000] [--api-key KEY] [--adapters-dir DIR] [--data-dir DIR] [--max-queue N] " +
  "[--backend auto|webgpu|cpu] [--max-context N] [--kv-cache f32|f16] [--max-tokens N] " +
  "[--checkpoint-every N] [--no-training] [--cors-origin ORIGIN ...] [--max-queued-jobs N] " +
  "[--max-job-records N] [--header-timeout SECONDS] [--body-timeout SECONDS] [--max-batch N] " +
  "[--max-loras N] [--max-lora-rank N] [--served-model-name NAME] [--lora-modules NAME=DIR ...]";

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
const loopbackOnly = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/.test(host);

const engine = new ServerEngine(loadModel(flags.model, { backend, maxContext, kvCacheDtype }), {
  adaptersDir: flags["adapters-dir"],
  dataDir: flags["data-dir"] ?? null,
  adapters,
  maxQueue: integer(flags["max-queue"], "max-queue", 1),
  maxTokens: integer(flags["max-tokens"], "max-tokens", 1),
  checkpointEvery: integer(flags["checkpoint-every"], "checkpoint-every", 0),
  training: !flags["no-training"],
  maxQueuedJobs: integer(flags["max-queued-jobs"], "max-queued-jobs", 1),
  maxJobRecords: integer(flags["max-job-records"], "max-job-records", 1),
  modelId: flags["served-model-name"],
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

let app;
try {
  app = createApp(engine, { apiKey, loopbackOnly, corsOrigins: flags["cors-origin"] ?? [] });
} catch (e) {
  fail((e as Error).message);
}
// The playground, its build, and the model folder (a model given as a URL is not re-served).
app.route("/", webRoutes({ modelDir: /^[a-z]+:\/\//.test(flags.model) ? null : flags.model }));
const onListen = ({ hostname, port }: Deno.NetAddr) =>
  console.log(
    `Listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`,
  );
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
  await engine.close(); // the running job is marked interrupted, with its last checkpoint
  await server.shutdown(); // lets streams in flight finish
  Deno.exit(0);
};
for (
  const signal of Deno.build.os === "windows" ? ["SIGINT"] as const : ["SIGINT", "SIGTERM"] as const
) {
  Deno.addSignalListener(signal, stop);
}
