/**
 * The HTTP app: OpenAI-compatible generation, fine-tuning jobs and adapter routes over one
 * {@linkcode ServerEngine}, with API-key auth, body limits and OpenAI error objects. No global
 * state: test it with `app.request()`, serve it with `Deno.serve(app.fetch)`, or mount it in
 * another Hono app.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { adapterRoutes } from "./adapter_routes.ts";
import type { ServerEngine } from "./engine.ts";
import { crossSiteGuard } from "./cross_site.ts";
import { clusterUnavailable } from "./cluster/cluster_errors.ts";
import { ApiError } from "./errors.ts";
import { NonFiniteLogitsError } from "../mod.ts";
import { filesRoutes } from "./files_routes.ts";
import { fineTuningRoutes } from "./fine_tuning_routes.ts";
import { generationRoutes } from "./generation_routes.ts";
import { vllmAdapterRoutes, vllmRootRoutes } from "./vllm_routes.ts";

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /**
   * When set, every `/v1` route requires `Authorization: Bearer <apiKey>`. An empty key is
   * refused (it would otherwise read as "no key"), and so is one with characters a bearer token
   * cannot hold (RFC 6750: letters, digits and `-._~+/`, then `=` padding).
   */
  apiKey?: string | null;
  /** Origins whose web pages may call `/v1` routes (with CORS headers). Default none. */
  corsOrigins?: readonly string[];
  /**
   * Whether the server listens on loopback only. Without an API key, training and adapter
   * routes are refused unless this is true. Default false.
   */
  loopbackOnly?: boolean;
  /** Body limit of generation and adapter requests, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Body limit of fine-tuning requests (inline data) and file uploads, in bytes. Default 32 MiB. */
  maxTrainingBodyBytes?: number;
  /**
   * Runs before the completion routes (`/v1/completions`, `/v1/chat/completions`), after
   * authentication and body limits: a cluster replica routes requests to other replicas there.
   */
  routeGenerations?: MiddlewareHandler;
  /**
   * Receives errors that are not the client's fault: those answered 500, and failures of a
   * stream already under way. Default console.error.
   */
  onUnexpectedError?: (error: unknown) => void;
}

/** What a bearer token may hold (RFC 6750's b64token, as `hono/bearer-auth` checks it). */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/** Checks an API key option: null or absent for none, else a non-empty bearer token. */
export function checkApiKey(apiKey: string | null | undefined): string | null {
  if (apiKey === null || apiKey === undefined) return null;
  if (apiKey === "") {
    throw new Error("The API key is empty: give a key, or none to run without authentication");
  }
  if (!BEARER_TOKEN.test(apiKey)) {
    throw new Error("The API key may hold only letters, digits and -._~+/ (then = padding)");
  }
  return apiKey;
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
 * `chat/completions`, `fine_tuning/jobs…`, `files…` and `adapters…`.
 *
 * @example
 * ```ts
 * const engine = new ServerEngine(loadModel("./model"), { adaptersDir: "./adapters" });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, createApp(engine, { loopbackOnly: true }).fetch);
 * ```
 */
export function createApp(engine: ServerEngine, options: AppOptions = {}): Hono {
  const apiKey = checkApiKey(options.apiKey);
  const onUnexpected = options.onUnexpectedError ?? console.error;
  const app = new Hono();

  app.onError((err, c: Context) => {
    if (err instanceof ApiError) return err.toResponse();
    if (err instanceof HTTPException) return err.getResponse();
    if (err instanceof NonFiniteLogitsError) {
      // The model or the adapter the request named is broken, not the server.
      return new ApiError(422, err.message, { code: "non_finite_logits" }).toResponse();
    }
    const unavailable = clusterUnavailable(err);
    if (unavailable) return unavailable.toResponse(); // NATS failed: retry, not a server bug
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

  // Every route after /health, the playground's static files and /model/ included.
  app.use(
    "*",
    crossSiteGuard({
      allowedOrigins: options.corsOrigins ?? [],
      loopbackHostOnly: apiKey === null && options.loopbackOnly === true,
    }),
  );
  if (apiKey !== null) {
    // Every failure is OpenAI's 401 (hono's own answer to a malformed header is a bare 400).
    const refused = {
      message: () =>
        new ApiError(401, "Missing or invalid API key: send Authorization: Bearer <key>", {
          code: "invalid_api_key",
        }).toResponse(),
    };
    const authorized = bearerAuth({
      token: apiKey,
      noAuthenticationHeader: refused,
      invalidAuthenticationHeader: refused,
      invalidToken: refused,
    });
    app.use("/v1/*", authorized);
    app.use("/tokenize", authorized); // vLLM leaves them open; they are work on request
    app.use("/detokenize", authorized);
  }
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
  app.use("/v1/files", privileged);
  app.use("/v1/files/*", privileged);
  app.use("/v1/adapters", privileged);
  app.use("/v1/adapters/*", privileged);
  app.use("/v1/load_lora_adapter", privileged);
  app.use("/v1/unload_lora_adapter", privileged);
  const small = limit(options.maxBodyBytes ?? 1 << 20);
  const large = limit(options.maxTrainingBodyBytes ?? 32 << 20);
  app.use(
    "*",
    (c, next) =>
      (c.req.path.startsWith("/v1/fine_tuning/") || c.req.path === "/v1/files" ? large : small)(
        c,
        next,
      ),
  );

  if (options.routeGenerations) {
    app.use("/v1/completions", options.routeGenerations);
    app.use("/v1/chat/completions", options.routeGenerations);
  }
  app.route("/", vllmRootRoutes(engine));
  app.route("/v1", vllmAdapterRoutes(engine));
  app.route("/v1", generationRoutes(engine, onUnexpected));
  app.route("/v1/fine_tuning", fineTuningRoutes(engine));
  app.route("/v1/adapters", adapterRoutes(engine));
  app.route("/v1/files", filesRoutes(engine));
  return app;
}
