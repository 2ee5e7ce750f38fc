/**
 * OpenAI's Files API for fine-tuning data, mounted under `/v1/files`: `POST /` (a multipart
 * upload with `purpose: "fine-tune"`), `GET /`, `GET /{id}`, `DELETE /{id}` and
 * `GET /{id}/content`. Files are kept under `--data-dir`; a job's `training_file` may name one
 * by id.
 *
 * @module
 */
import { Hono } from "hono";
import type { ServerEngine } from "./engine.ts";
import { ApiError } from "./errors.ts";

/** The `/v1/files` routes of `engine`. */
export function filesRoutes(engine: ServerEngine): Hono {
  const app = new Hono();

  app.post("/", async (c) => {
    const files = engine.fineTuning.files; // 403/503/400 before the body is read
    let form;
    try {
      form = await c.req.parseBody();
    } catch (e) {
      throw new ApiError(400, `Invalid multipart body: ${(e as Error).message}`, {
        code: "invalid_multipart",
      });
    }
    if (form.purpose !== "fine-tune") {
      throw new ApiError(
        400,
        `Invalid purpose ${JSON.stringify(form.purpose ?? null)}: this server takes "fine-tune"`,
        { param: "purpose" },
      );
    }
    const file = form.file;
    if (!(file instanceof File)) {
      throw new ApiError(400, 'Missing file: send it as the multipart field "file"', {
        param: "file",
      });
    }
    return c.json(await files.create(file.name, new Uint8Array(await file.arrayBuffer())));
  });

  app.get("/", async (c) => {
    const purpose = c.req.query("purpose");
    const data = (await engine.fineTuning.files.list()).filter((f) =>
      purpose === undefined || f.purpose === purpose
    );
    return c.json({ object: "list", data, has_more: false });
  });

  app.get("/:id", async (c) => c.json(await engine.fineTuning.files.get(c.req.param("id"))));

  app.delete("/:id", async (c) => c.json(await engine.fineTuning.files.delete(c.req.param("id"))));

  app.get("/:id/content", async (c) => {
    const bytes = await engine.fineTuning.files.content(c.req.param("id"));
    return c.body(bytes, 200, { "content-type": "application/octet-stream" });
  });

  return app;
}
