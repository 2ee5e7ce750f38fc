/**
 * Where model files come from. The engine reads a model's files (config, weights, tokenizer)
 * through a {@linkcode ModelSource}, never through paths, so the same code runs on a local
 * folder (`dirModelSource` in fs_model_source.ts), any `fetch`able URL, or bytes in memory,
 * in Deno or in a browser tab.
 *
 * @module
 */

/** A read-only set of model files addressed by relative paths such as `config.json`. */
export interface ModelSource {
  /** A folder path or URL, used in error messages. */
  readonly name: string;
  /** The bytes of one file; throws {@linkcode ModelFileNotFoundError} when it is missing. */
  read(path: string): Promise<Uint8Array>;
  /** Whether the file exists. */
  has(path: string): Promise<boolean>;
}

/** Thrown by {@linkcode ModelSource.read} for a file the source does not have. */
export class ModelFileNotFoundError extends Error {
  /** The source's name. */
  readonly sourceName: string;
  /** The missing file's relative path. */
  readonly path: string;

  /** Makes the error for `path` missing from the source named `sourceName`. */
  constructor(sourceName: string, path: string) {
    super(`File ${JSON.stringify(path)} not found in ${JSON.stringify(sourceName)}`);
    this.name = "ModelFileNotFoundError";
    this.sourceName = sourceName;
    this.path = path;
  }
}

/**
 * Checks that a model file path is relative, uses `/` separators and stays inside the model
 * (no empty, `.` or `..` segments), so that a hostile index file cannot point elsewhere.
 */
export function checkModelPath(path: string): void {
  const segments = path.split("/");
  if (
    path === "" || path.includes("\\") || path.includes("\0") ||
    segments.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new Error(`Invalid model file path ${JSON.stringify(path)}: expected a relative path`);
  }
}

/** Reads and parses a JSON file, naming the file and source when it is not valid JSON. */
export async function readJson(source: ModelSource, path: string): Promise<unknown> {
  const text = new TextDecoder().decode(await source.read(path));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(
      `Invalid JSON in ${JSON.stringify(path)} of ${JSON.stringify(source.name)}: ` +
        (e as Error).message,
    );
  }
}

/**
 * Model files below a base URL (http(s), or file: in Deno), read with `fetch`. `has` sends a
 * HEAD request (a GET where HEAD is refused); a 404 or 410 means absent. For file: URLs, any
 * failure to fetch counts as absent, and `read` reports it.
 *
 * @example
 * ```ts
 * const model = await loadModel(urlModelSource("https://example.com/models/tiny/"));
 * ```
 */
export function urlModelSource(base: string | URL): ModelSource {
  const root = new URL(base);
  if (!root.pathname.endsWith("/")) root.pathname += "/";
  const name = root.href;
  const urlOf = (path: string) => {
    checkModelPath(path);
    return new URL(path.split("/").map(encodeURIComponent).join("/"), root);
  };
  const request = async (path: string, method: string) => {
    try {
      return await fetch(urlOf(path), { method });
    } catch (e) {
      throw new Error(
        `Cannot read ${JSON.stringify(path)} from ${JSON.stringify(name)}: ${(e as Error).message}`,
      );
    }
  };
  const isMissing = (status: number) => status === 404 || status === 410;
  return {
    name,
    async read(path) {
      const response = await request(path, "GET");
      if (!response.ok) {
        await response.body?.cancel();
        if (isMissing(response.status)) throw new ModelFileNotFoundError(name, path);
        throw new Error(
          `Cannot read ${JSON.stringify(path)} from ${JSON.stringify(name)}: HTTP ` +
            `${response.status} ${response.statusText}`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
    async has(path) {
      if (root.protocol === "file:") {
        // fetch of file: URLs has no HEAD and throws, rather than answering 404, when missing.
        try {
          const response = await fetch(urlOf(path));
          await response.body?.cancel();
          return response.ok;
        } catch {
          return false;
        }
      }
      let response = await request(path, "HEAD");
      await response.body?.cancel();
      if (response.status === 405 || response.status === 501) {
        response = await request(path, "GET"); // a server or scheme without HEAD
        await response.body?.cancel();
      }
      if (response.ok) return true;
      if (isMissing(response.status)) return false;
      throw new Error(
        `Cannot check ${JSON.stringify(path)} in ${JSON.stringify(name)}: HTTP ` +
          `${response.status} ${response.statusText}`,
      );
    },
  };
}

/**
 * Model files held in memory, by relative path. `read` returns the stored arrays, not copies.
 *
 * @example
 * ```ts
 * const source = memoryModelSource("in memory", new Map([["config.json", new TextEncoder().encode("{}")]]));
 * await source.has("config.json"); // true
 * ```
 */
export function memoryModelSource(name: string, files: Map<string, Uint8Array>): ModelSource {
  return {
    name,
    // async, so that a bad path rejects as with the other sources
    // deno-lint-ignore require-await
    async read(path) {
      checkModelPath(path);
      const bytes = files.get(path);
      if (bytes === undefined) throw new ModelFileNotFoundError(name, path);
      return bytes;
    },
    // deno-lint-ignore require-await
    async has(path) {
      checkModelPath(path);
      return files.has(path);
    },
  };
}
