/**
 * Fine-tuning job routes shaped like OpenAI's, mounted under `/v1/fine_tuning`:
 * `POST /jobs`, `GET /jobs`, `GET /jobs/{id}`, `DELETE /jobs/{id}` (a finished job's record),
 * `GET /jobs/{id}/checkpoints`, `POST /jobs/{id}/pause`, `POST /jobs/{id}/resume`,
 * `POST /jobs/{id}/cancel` and
 * `GET /jobs/{id}/events` (a page of events, or live SSE with `?stream=true`). `POST /jobs`
 * passes an `Idempotency-Key` header on (a cluster gives one job for repeats of a key).
 *
 * @module
 */
import { Hono } from "hono";
import type { ServerEngine } from "./engine.ts";
import { ApiError } from "./errors.ts";
import { fineTuningRequest, pageQuery, parseWith, readBody } from "./request_schemas.ts";

/** OpenAI's list page: items after the one with id `after`, at most `limit`. */
function page<T extends { id: string }>(items: T[], after: string | undefined, limit: number) {
  let start = 0;
  if (after !== undefined) {
    const at = items.findIndex((item) => item.id === after);
    if (at < 0) {
      throw new ApiError(400, `Invalid after: no item ${JSON.stringify(after)}`, {
        param: "after",
      });
    }
    start = at + 1;
  }
  const data = items.slice(start, start + limit);
  return { object: "list", data, has_more: start + limit < items.length };
}

/** The `/v1/fine_tuning` routes of `engine`. */
export function fineTuningRoutes(engine: ServerEngine): Hono {
  const app = new Hono();

  app.post("/jobs", async (c) => {
    const fineTuning = engine.fineTuning; // 503 or 403 before the body is read
    const request = await readBody(c, fineTuningRequest);
    return c.json(await fineTuning.create(request, c.req.header("idempotency-key")));
  });

  app.get("/jobs", async (c) => {
    const query = parseWith(pageQuery, c.req.query());
    return c.json(page(await engine.fineTuning.list(), query.after, query.limit ?? 20));
  });

  app.get("/jobs/:id", async (c) => c.json(await engine.fineTuning.get(c.req.param("id"))));

  app.get("/jobs/:id/checkpoints", async (c) => {
    const query = parseWith(pageQuery, c.req.query());
    const checkpoints = await engine.fineTuning.checkpoints(c.req.param("id"));
    const listed = page(checkpoints, query.after, query.limit ?? 10);
    return c.json({
      ...listed,
      first_id: listed.data[0]?.id ?? null,
      last_id: listed.data.at(-1)?.id ?? null,
    });
  });

  app.delete("/jobs/:id", async (c) => c.json(await engine.fineTuning.delete(c.req.param("id"))));

  app.post(
    "/jobs/:id/pause",
    async (c) => c.json(await engine.fineTuning.pause(c.req.param("id"))),
  );

  app.post(
    "/jobs/:id/resume",
    async (c) => c.json(await engine.fineTuning.resume(c.req.param("id"))),
  );

  app.post(
    "/jobs/:id/cancel",
    async (c) => c.json(await engine.fineTuning.cancel(c.req.param("id"))),
  );

  app.get("/jobs/:id/events", async (c) => {
    const id = c.req.param("id");
    const query = parseWith(pageQuery, c.req.query());
    const fineTuning = engine.fineTuning;
    if (query.stream === "true") return await fineTuning.eventStream(c, id);
    const events = [...await fineTuning.events(id)].reverse();
    return c.json(page(events, query.after, query.limit ?? 20));
  });

  return app;
}
