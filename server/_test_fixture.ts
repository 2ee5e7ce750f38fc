/**
 * Test fixtures of the server tests: the tiny random model, random (non-zero) adapters saved
 * in PEFT layout, temporary folders, and an engine plus app over them.
 *
 * @module
 */
import type { FineTuningJob } from "./job_store.ts";
import { join } from "node:path";
import OpenAI from "openai";
// Not in mod.ts: the fixtures carry the 9 MB Llama 3 tokenizer, which mod.ts must not load.
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import {
  type Gpu,
  initLoraWeights,
  loadModel,
  type LoraWeights,
  memoryModelSource,
  type Model,
  type ModelConfig,
  resolveLoraConfig,
  serializePeftAdapter,
  writeModelFiles,
} from "../mod.ts";
import { Rng } from "../lib/util/rng.ts"; // test tooling, not public API
import { type AppOptions, createApp } from "./app.ts";
import { ServerEngine } from "./engine.ts";
import type { EngineOptions } from "./engine_options.ts";

/** The fixture model's id: the name of its memory source. */
export const FIXTURE_ID = "tiny";

/** The files of the tiny fixture model (small tokenizer with a chat template). */
export function fixtureModelFiles(): Map<string, Uint8Array> {
  return createFixtureModel({ preset: "tiny", tokenizer: "small", seed: 7, dtype: "F32" });
}

/** The tiny fixture model (see {@linkcode fixtureModelFiles}), on `backend`. */
export function loadFixtureModel(backend: "cpu" | "webgpu", gpu?: Gpu): Promise<Model> {
  const files = fixtureModelFiles();
  return loadModel(memoryModelSource(FIXTURE_ID, files), { backend, gpu, maxContext: 256 });
}

/** A LoRA adapter whose A and B are both random, so that it changes the model's output. */
export function randomAdapter(config: ModelConfig, seed: number): LoraWeights {
  const lora = resolveLoraConfig({
    r: 4,
    alpha: 32,
    targetModules: ["q_proj", "v_proj", "o_proj"],
  });
  const weights = initLoraWeights(config, lora, seed);
  const rng = new Rng(seed + 1);
  for (const [key, values] of weights.tensors) {
    if (key.endsWith("lora_B.weight")) rng.fillUniform(values, -0.5, 0.5);
  }
  return weights;
}

/** Writes `weights` as PEFT adapter folder `dir`. */
export async function writeAdapter(
  dir: string,
  weights: LoraWeights,
  config: ModelConfig,
): Promise<void> {
  await writeModelFiles(dir, serializePeftAdapter(weights, config, FIXTURE_ID));
}

/** A new temporary folder. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "server_test_" });
}

/** An engine and app over `model`, with an adapters folder holding random adapters `names`. */
export async function fixtureServer(
  model: Model,
  options: {
    adapters?: string[];
    engine?: Partial<EngineOptions>;
    app?: AppOptions;
  } = {},
) {
  const root = await tempDir();
  const adaptersDir = join(root, "adapters");
  for (const [i, name] of (options.adapters ?? []).entries()) {
    await writeAdapter(join(adaptersDir, name), randomAdapter(model.config, 100 + i), model.config);
  }
  const engine = new ServerEngine(model, { adaptersDir, ...options.engine });
  await engine.ready;
  const app = createApp(engine, { loopbackOnly: true, ...options.app });
  return { root, adaptersDir, engine, app };
}

/**
 * Runs `body` with the official `openai` client against a served {@linkcode fixtureServer} of
 * `model` with `options`; then closes the server and frees the batch buffers.
 */
export async function withOpenAiClient<T>(
  model: Model,
  options: Parameters<typeof fixtureServer>[1],
  body: (client: OpenAI, engine: ServerEngine) => Promise<T>,
): Promise<T> {
  const { app, engine } = await fixtureServer(model, options);
  const server = serveApp(app);
  try {
    return await body(
      new OpenAI({ apiKey: "unused", baseURL: `${server.url}/v1`, maxRetries: 0 }),
      engine,
    );
  } finally {
    await server.close();
    engine.batched?.dispose();
  }
}

/** Serves `app` on 127.0.0.1 at a free port; `close` shuts the server down. */
export function serveApp(app: { fetch: (request: Request) => Response | Promise<Response> }) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { url, close: () => server.shutdown() };
}

/** A fine-tuning job record for store and queue tests: queued, tiny hyperparameters, then `patch`. */
export function sampleJob(id: string, patch: Partial<FineTuningJob> = {}): FineTuningJob {
  const job: FineTuningJob = {
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
      learning_rate: 1e-4,
      lora_r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      target_modules: ["q_proj"],
      max_steps: 3,
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
  return { ...job, ...patch };
}
