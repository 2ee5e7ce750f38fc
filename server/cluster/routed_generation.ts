/**
 * Generation requests across replicas: a replica that receives `POST /v1/completions` or
 * `/v1/chat/completions` for an adapter forwards it through its {@linkcode AdapterRouter}, so it
 * lands on a replica holding the adapter (or, with none, on any replica with room, which loads
 * it). The replica that takes it serves it through its own app, marked local so it is not routed
 * again. Streamed requests and requests for the base model are served where they arrive (any
 * replica holds the base model). Every answer names its replica in `X-Served-By`, and a routed
 * one says in `X-Adapter-Resident` whether the adapter was loaded there before the request. A
 * routed request whose replica dies is routed once more; if that one dies too, the answer is 503
 * `cluster_unavailable` with a `Retry-After`.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { ServerEngine } from "../engine.ts";
import { ApiError } from "../errors.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../json_depth.ts";
import {
  type AdapterRouter,
  ReplicaLostError,
  type RoutedHandler,
  RoutingError,
} from "./adapter_router.ts";
import { CLUSTER_RETRY_AFTER_SECONDS } from "./cluster_errors.ts";

/** The request header that asks a replica to serve a generation itself, without routing. */
export const LOCAL_HEADER = "x-cluster-local";
/** The answer header naming the replica that served a generation. */
export const SERVED_BY_HEADER = "x-served-by";
/** The answer header saying whether the adapter was resident where a routed request ran. */
export const RESIDENT_HEADER = "x-adapter-resident";

/** A routed request: the path, the client's authorization and the JSON body. */
interface RoutedRequest {
  path: string;
  authorization: string | null;
  body: string;
}

/** A routed answer: the status, content type and body, and whether the adapter was resident. */
interface RoutedResponse {
  status: number;
  contentType: string;
  body: string;
  resident: boolean;
}

const encode = (value: RoutedRequest | RoutedResponse) =>
  new TextEncoder().encode(JSON.stringify(value));
const decode = <T>(bytes: Uint8Array): T => JSON.parse(new TextDecoder().decode(bytes));

/**
 * The middleware of a replica's generation routes: it forwards a non-streamed adapter request
 * through `router()` (made once the replica has joined; until then requests are served here).
 */
export function routeGenerations(
  engine: ServerEngine,
  replicaId: string,
  router: () => AdapterRouter | null,
): MiddlewareHandler {
  return async (c, next) => {
    const target = router();
    const text = await c.req.text();
    const model = target && c.req.header(LOCAL_HEADER) !== "1" ? routedModel(engine, text) : null;
    if (model === null) {
      await next();
      c.res.headers.set(SERVED_BY_HEADER, replicaId);
      return;
    }
    const request: RoutedRequest = {
      path: c.req.path,
      authorization: c.req.header("authorization") ?? null,
      body: text,
    };
    let answer;
    try {
      answer = await target!.route(model, encode(request));
    } catch (e) {
      if (e instanceof ReplicaLostError) {
        throw new ApiError(503, `${e.message}, and so did the retry; retry later`, {
          code: "cluster_unavailable",
          retryAfterSeconds: CLUSTER_RETRY_AFTER_SECONDS,
        });
      }
      if (e instanceof RoutingError) {
        throw new ApiError(503, e.message, { code: "routing_failed" });
      }
      throw new ApiError(503, `No replica answered in time: ${(e as Error).message}`, {
        code: "routing_failed",
      });
    }
    const routed = decode<RoutedResponse>(answer.body);
    return new Response(routed.body, {
      status: routed.status,
      headers: {
        "content-type": routed.contentType,
        [SERVED_BY_HEADER]: answer.replica,
        [RESIDENT_HEADER]: String(routed.resident),
      },
    });
  };
}

/**
 * The handler of requests routed to this replica: it serves them through `fetch` (the app),
 * marked local.
 */
export function serveRouted(
  engine: ServerEngine,
  fetch: (request: Request) => Response | Promise<Response>,
): RoutedHandler {
  return async (adapter, bytes) => {
    const request = decode<RoutedRequest>(bytes);
    const resident = engine.adapters.loaded().some((a) => a.name === adapter);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      [LOCAL_HEADER]: "1",
    };
    if (request.authorization !== null) headers.authorization = request.authorization;
    const response = await fetch(
      new Request(`http://localhost${request.path}`, {
        method: "POST",
        headers,
        body: request.body,
      }),
    );
    return encode({
      status: response.status,
      contentType: response.headers.get("content-type") ?? "application/json",
      body: await response.text(),
      resident,
    });
  };
}

/** The adapter a body asks for when it is to be routed: not streamed, not the base model. */
function routedModel(engine: ServerEngine, text: string): string | null {
  if (engine.status !== "ready" || nestsDeeperThan(text, MAX_JSON_DEPTH)) return null;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return null; // the route answers the 400
  }
  const model = body?.model;
  if (typeof model !== "string" || model === engine.modelId || body.stream === true) return null;
  return model;
}
