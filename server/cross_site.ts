/**
 * Cross-site request guards for the API and the files it serves: a web page the user visits must not be able to drive the
 * server (start jobs, read replies) through the user's browser.
 *
 * - **Host**: a keyless server on loopback answers only requests addressed to a loopback name
 *   (`localhost`, `127.x.x.x`, `[::1]`), which defeats DNS rebinding (`attacker.example`
 *   resolving to 127.0.0.1).
 * - **Origin**: a request a browser sends from another origin is refused, unless that origin
 *   is allowed (`--cors-origin`), in which case it also gets CORS headers. Same-origin pages
 *   (the browser playground served by this server) and clients that send no `Origin` (curl,
 *   SDKs) pass.
 * - **Content-Type**: a POST (PUT, PATCH) that is not empty must say `application/json` (415 otherwise), which
 *   a cross-site HTML form or `no-cors` fetch cannot send without a CORS preflight. File
 *   uploads (`POST /v1/files`) take `multipart/form-data` instead.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { ApiError } from "./errors.ts";

/** Settings of {@linkcode crossSiteGuard}. */
export interface CrossSiteOptions {
  /** Origins (`scheme://host[:port]`) whose pages may call the API, with CORS. */
  allowedOrigins: readonly string[];
  /** Whether to accept only loopback `Host` names: set for a keyless loopback server. */
  loopbackHostOnly: boolean;
}

/** Host names that always mean this machine. */
const LOOPBACK_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/i;

/** Methods whose bodies are read (Deno gives even a bodiless DELETE a body stream). */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Paths whose POST bodies are file uploads, with the content type they take. */
const UPLOAD_PATHS: Record<string, string> = { "/v1/files": "multipart/form-data" };

/** The media type of a `Content-Type` header, lower case, without parameters. */
function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

/** Checks `origin` is a `scheme://host[:port]` origin; returns it normalised. */
function normaliseOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`Invalid CORS origin ${JSON.stringify(origin)}: expected scheme://host[:port]`);
  }
  if (url.origin === "null" || url.origin !== origin.replace(/\/$/, "")) {
    throw new Error(`Invalid CORS origin ${JSON.stringify(origin)}: expected scheme://host[:port]`);
  }
  return url.origin;
}

/**
 * The middleware: CORS for allowed origins, then the Host, Origin and Content-Type checks.
 * Throws at once for a malformed allowed origin.
 *
 * @example
 * ```ts
 * app.use("/v1/*", crossSiteGuard({ allowedOrigins: [], loopbackHostOnly: true }));
 * ```
 */
export function crossSiteGuard(options: CrossSiteOptions): MiddlewareHandler {
  const allowed = new Set(options.allowedOrigins.map(normaliseOrigin));
  const corsHeaders = cors({
    origin: (origin) => allowed.has(origin) ? origin : null,
    allowHeaders: ["authorization", "content-type"],
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    maxAge: 600,
  });
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (options.loopbackHostOnly && !LOOPBACK_HOST.test(url.hostname)) {
      throw new ApiError(
        403,
        `Host ${JSON.stringify(url.host)} is not a loopback name; this keyless server answers ` +
          "only localhost, 127.0.0.1 and [::1]",
        { code: "invalid_host" },
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== url.origin && !allowed.has(origin)) {
      throw new ApiError(
        403,
        `Cross-origin requests from ${JSON.stringify(origin)} are not allowed ` +
          "(the server's --cors-origin allows an origin)",
        { code: "cross_origin" },
      );
    }
    if (c.req.method === "OPTIONS") return await corsHeaders(c, next);
    if (BODY_METHODS.has(c.req.method) && c.req.header("content-length") !== "0") {
      const expected = UPLOAD_PATHS[c.req.path] ?? "application/json";
      const got = mediaType(c.req.header("content-type"));
      if (got !== expected) {
        throw new ApiError(
          415,
          `Expected Content-Type: ${expected}, got ${JSON.stringify(got || "none")}`,
          { code: "unsupported_media_type" },
        );
      }
    }
    await corsHeaders(c, next);
  };
}
