/**
 * Adapter management, mounted under `/v1/adapters`: `GET /` lists the adapters (loaded or
 * waiting in the adapters directory), `POST /` with `{"name"}` loads or reloads one from the
 * adapters directory, and `DELETE /{name}` frees one's memory (an adapter in the directory is
 * loaded again on its next request).
 *
 * @module
 */
import { Hono } from "hono";
import type { AdapterEntry } from "./adapter_registry.ts";
import type { ServerEngine } from "./engine.ts";
import { ApiError } from "./errors.ts";
import { loadAdapterRequest, readBody } from "./request_schemas.ts";

/** An adapter as the routes show it. */
function adapterObject(entry: AdapterEntry, parent: string) {
  return {
    id: entry.name,
    object: "adapter",
    created: entry.created,
    parent,
    loaded: true,
    lora: {
      r: entry.config.r,
      lora_alpha: entry.config.alpha,
      target_modules: entry.config.targetModules,
      use_rslora: entry.config.useRslora,
    },
  };
}

/** The `/v1/adapters` routes of `engine`. */
export function adapterRoutes(engine: ServerEngine): Hono {
  const app = new Hono();

  app.get("/", async (c) => {
    const registry = engine.adapters;
    const loaded = new Map(registry.loaded().map((a) => [a.name, a]));
    const data = (await registry.names()).map((name) => {
      const entry = loaded.get(name);
      return entry ? adapterObject(entry, engine.modelId) : {
        id: name,
        object: "adapter",
        created: null,
        parent: engine.modelId,
        loaded: false,
        lora: null,
      };
    });
    return c.json({ object: "list", data });
  });

  app.post("/", async (c) => {
    const { name } = await readBody(c, loadAdapterRequest);
    return c.json(adapterObject(await engine.adapters.load(name), engine.modelId));
  });

  app.delete("/:name", async (c) => {
    const name = c.req.param("name");
    if (!(await engine.adapters.unload(name))) {
      throw new ApiError(404, `No loaded adapter ${JSON.stringify(name)}`, {
        param: "name",
        code: "adapter_not_found",
      });
    }
    return c.json({ id: name, object: "adapter", deleted: true });
  });

  return app;
}
