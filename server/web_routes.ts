/**
 * The browser playground's static files: `web/` at `/`, the browser build (`dist/`, written by
 * `deno task build:web`) at `/dist/`, and the server's own model folder at `/model/`, so that
 * the playground can load in the tab the model the server runs.
 *
 * @module
 */
import { Hono } from "hono";
import { serveStatic } from "hono/deno";
import { fileURLToPath } from "node:url";

/** Options of {@linkcode webRoutes}. */
export interface WebRoutesOptions {
  /** The playground's folder. Default the repository's `web/`. */
  webDir?: string;
  /** The browser build's folder. Default the repository's `dist/`. */
  distDir?: string;
  /** The model folder served at `/model/`; null serves none. */
  modelDir?: string | null;
}

const repoPath = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

/**
 * Routes for the playground's static files. Missing files fall through to the app's 404.
 *
 * @example
 * ```ts
 * const app = createApp(engine, { loopbackOnly: true });
 * app.route("/", webRoutes({ modelDir: "./model_cache/LLM-Research/Llama-3___2-1B" }));
 * ```
 */
export function webRoutes(options: WebRoutesOptions = {}): Hono {
  const app = new Hono();
  const under = (prefix: string, root: string) =>
    serveStatic({ root, rewriteRequestPath: (path) => path.slice(prefix.length) });
  app.use("/dist/*", under("/dist", options.distDir ?? repoPath("dist")));
  if (options.modelDir) app.use("/model/*", under("/model", options.modelDir));
  app.use("/*", serveStatic({ root: options.webDir ?? repoPath("web") }));
  return app;
}
