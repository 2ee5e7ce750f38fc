/**
 * The HTTP app: OpenAI-compatible generation, fine-tuning jobs and adapter routes over one
 * {@linkcode ServerEngine}, with API-key auth, body limits and OpenAI error objects. No global
 * state: test it with `app.request()`, serve it with `Deno.serve(app.fetch)`, or mount it in
 * another Hono app.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { adapterRoutes } from "./adapter_routes.ts";
import type { ServerEngine } from "./engine.ts";
import { ApiError } from "./errors.ts";
import { NonFiniteLogitsError } from "../mod.ts";
import { fineTuningRoutes } from "./fine_tuning_routes.ts";
import { generationRoutes } from "./generation_routes.ts";

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** When set, every `/v1` route requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string | null;
  /**
   * Whether the server listens on loopback only. Without an API key, training and adapter
   * routes are refused unless this is true. Default false.
   */
  loopbackOnly?: boolean;
  /** Body limit of generation and adapter requests, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Body limit of fine-tuning requests (inline data), in bytes. Default 32 MiB. */
  maxTrainingBodyBytes?: number;
  /**
   * Receives errors that are not the client's fault: those answered 500, and failures of a
   * stream already under way. Default console.error.
   */
  onUnexpectedError?: (error: unknown) => void;
}

/** Compares two strings in time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i % Math.max(1, y.length)];
  return diff === 0;
}

/** A body limit answering with an OpenAI 413 error. */
function limit(bytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: bytes,
    onError: () => {
      throw new ApiError(413, `Request body exceeds the limit of ${bytes} bytes`, {
        code: "request_too_large",
      });
    },
  });
}

/**
 * Builds the app over `engine`. Routes: `GET /health`; under `/v1`: `models`, `completions`,
 * `chat/completions`, `fine_tuning/jobs…` and `adapters…`.
 *
 * @example
 * ```ts
 * const engine = new ServerEngine(loadModel("./model"), { adaptersDir: "./adapters" });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, createApp(engine, { loopbackOnly: true }).fetch);
 * ```
 */
export function createApp(engine: ServerEngine, options: AppOptions = {}): Hono {
  const apiKey = options.apiKey || null;
  const onUnexpected = options.onUnexpectedError ?? console.error;
  const app = new Hono();

  app.onError((err, c: Context) => {
    if (err instanceof ApiError) return err.toResponse();
    if (err instanceof NonFiniteLogitsError) {
      // The model or the adapter the request named is broken, not the server.
      return new ApiError(422, err.message, { code: "non_finite_logits" }).toResponse();
    }
    if (c.req.raw.signal.aborted) {
      return new ApiError(400, "The client closed the request", { code: "request_aborted" })
        .toResponse();
    }
    onUnexpected(err);
    return new ApiError(500, `Internal error: ${err.message}`).toResponse();
  });
  app.notFound((c) =>
    new ApiError(404, `No route ${c.req.method} ${JSON.stringify(c.req.path)}`, {
      code: "unknown_route",
    }).toResponse()
  );

  app.get("/health", (c) => {
    const queue = {
      requests: engine.scheduler.requests,
      waiting: engine.scheduler.waiting,
      max: engine.scheduler.maxQueue,
    };
    if (engine.status !== "ready") {
      return c.json({ status: engine.status, error: engine.error, queue }, 503);
    }
    const gpu = engine.model.gpu;
    const kernels = gpu && { adapter: gpu.adapterName, ...gpu.kernels };
    return c.json({
      status: "ok",
      model: engine.modelId,
      backend: engine.model.backend,
      kernels,
      queue,
    });
  });

  app.use("/v1/*", async (c, next) => {
    if (apiKey !== null) {
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
      if (!match || !sameSecret(match[1], apiKey)) {
        throw new ApiError(401, "Missing or invalid API key: send Authorization: Bearer <key>", {
          code: "invalid_api_key",
        });
      }
    }
    await next();
  });
  const privileged: MiddlewareHandler = async (_c, next) => {
    if (apiKey === null && !options.loopbackOnly) {
      throw new ApiError(
        403,
        "Training and adapter routes are disabled: this server listens beyond loopback without --api-key",
        { code: "forbidden" },
      );
    }
    await next();
  };
  app.use("/v1/fine_tuning/*", privileged);
  app.use("/v1/adapters", privileged);
  app.use("/v1/adapters/*", privileged);
  const small = limit(options.maxBodyBytes ?? 1 << 20);
  const large = limit(options.maxTrainingBodyBytes ?? 32 << 20);
  app.use(
    "/v1/*",
    (c, next) => (c.req.path.startsWith("/v1/fine_tuning/") ? large : small)(c, next),
  );

  app.route("/v1", generationRoutes(engine, onUnexpected));
  app.route("/v1/fine_tuning", fineTuningRoutes(engine, onUnexpected));
  app.route("/v1/adapters", adapterRoutes(engine));
  return app;
}
