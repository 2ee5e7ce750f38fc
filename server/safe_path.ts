/**
 * Path safety for names that come from requests (data files, adapter names): relative paths
 * only, no `..`, no absolute paths, and no symbolic link that leads out of the root folder.
 *
 * @module
 */
import { isAbsolute, join, sep } from "node:path";
import { ApiError } from "./errors.ts";

/** An adapter or file name: one path segment of letters, digits, `.`, `_` and `-`, not starting with `.`. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Whether `name` is a safe single-segment name (see {@linkcode NAME_PATTERN}). */
export function isSafeName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/**
 * Resolves `path`, relative to `root`, to the real path of an existing entry inside `root`.
 * Throws a 400 {@linkcode ApiError} naming `param` for an absolute path, a `..` or empty
 * segment, a backslash or NUL, a symbolic link leading out of `root`, or a missing entry.
 */
export async function resolveInside(root: string, path: string, param: string): Promise<string> {
  const invalid = (why: string) =>
    new ApiError(400, `Invalid ${param} ${JSON.stringify(path)}: ${why}`, {
      param,
      code: "invalid_path",
    });
  const segments = path.split("/");
  if (
    path === "" || isAbsolute(path) || /^[A-Za-z]:/.test(path) || path.includes("\\") ||
    path.includes("\0") || segments.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw invalid("expected a relative path without . or .. segments");
  }
  let realRoot: string, real: string;
  try {
    realRoot = await Deno.realPath(root);
    real = await Deno.realPath(join(root, ...segments));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw invalid("no such file or folder");
    }
    throw e;
  }
  if (!real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
    throw invalid("it leads out of its folder");
  }
  return real;
}
