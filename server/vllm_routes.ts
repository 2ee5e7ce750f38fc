/**
 * vLLM's routes beside the OpenAI ones: `POST /tokenize` and `POST /detokenize`, `GET /metrics`
 * (Prometheus text), and the adapter routes `POST /v1/load_lora_adapter` and
 * `POST /v1/unload_lora_adapter`, whose `lora_path` must lie inside the adapters directory.
 *
 * @module
 */
import { Hono } from "hono";
import { isAbsolute, relative } from "node:path";
import type { ServerEngine } from "./engine.ts";
import { ApiError } from "./errors.ts";
import { chatMessages } from "./generation_routes.ts";
import {
  detokenizeRequest,
  readBody,
  tokenizeRequest,
  vllmLoadLoraRequest,
  vllmUnloadLoraRequest,
} from "./request_schemas.ts";
import { resolveInside } from "./safe_path.ts";

/** `/tokenize`, `/detokenize` and `/metrics`, mounted at the root as vLLM has them. */
export function vllmRootRoutes(engine: ServerEngine): Hono {
  const app = new Hono();

  app.post("/tokenize", async (c) => {
    const body = await readBody(c, tokenizeRequest);
    const tokens = "prompt" in body
      ? body.add_special_tokens === false
        ? engine.model.tokenizer.encode(body.prompt, { addSpecialTokens: false })
        : engine.encode(body.prompt)
      : engine.encode(chatMessages(body.messages), body.chat_template_kwargs);
    return c.json({ count: tokens.length, max_model_len: engine.model.maxContext, tokens });
  });

  app.post("/detokenize", async (c) => {
    const { tokens } = await readBody(c, detokenizeRequest);
    const vocab = engine.model.tokenizer.vocabSize;
    const bad = tokens.findIndex((id) => id >= vocab);
    if (bad >= 0) {
      throw new ApiError(
        400,
        `Invalid tokens.${bad}: ${tokens[bad]} is outside the vocabulary of ${vocab}`,
        {
          param: `tokens.${bad}`,
        },
      );
    }
    return c.json({ prompt: engine.model.tokenizer.decode(tokens) });
  });

  app.get("/metrics", async (c) => {
    const jobs: Record<string, number> = {};
    if (engine.status === "ready") {
      try {
        for (const job of await engine.fineTuning.list()) {
          jobs[job.status] = (jobs[job.status] ?? 0) + 1;
        }
      } catch (e) {
        if (!(e instanceof ApiError)) throw e; // training is off: no jobs
      }
    }
    const model = engine.status === "ready" ? engine.modelId : "";
    const text = engine.metrics.render(model, { ...engine.load, jobs });
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  return app;
}

/** `/load_lora_adapter` and `/unload_lora_adapter`, mounted under `/v1` (privileged). */
export function vllmAdapterRoutes(engine: ServerEngine): Hono {
  const app = new Hono();

  app.post("/load_lora_adapter", async (c) => {
    const { lora_name, lora_path } = await readBody(c, vllmLoadLoraRequest);
    const root = engine.adapters.adaptersDir;
    const inside = isAbsolute(lora_path) ? relative(root, lora_path) : lora_path;
    const folder = await resolveInside(root, inside, "lora_path");
    await engine.adapters.addFolder(lora_name, folder);
    return c.text(`Success: LoRA adapter '${lora_name}' added successfully.`);
  });

  app.post("/unload_lora_adapter", async (c) => {
    const { lora_name } = await readBody(c, vllmUnloadLoraRequest);
    if (!(await engine.adapters.unload(lora_name))) {
      throw new ApiError(404, `No loaded adapter ${JSON.stringify(lora_name)}`, {
        param: "lora_name",
        code: "adapter_not_found",
      });
    }
    return c.text(`Success: LoRA adapter '${lora_name}' removed successfully.`);
  });

  return app;
}
