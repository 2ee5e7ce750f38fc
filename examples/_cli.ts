/**
 * Small helpers shared by the command-line examples: flag parsing with clear errors.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

// Mesa's Vulkan drivers warn on every start when XDG_RUNTIME_DIR is unset (headless Linux).
if (Deno.build.os === "linux" && !Deno.env.get("XDG_RUNTIME_DIR")) {
  Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
}

/** Parses `args` strictly; an unknown flag or a missing value exits with a usage message. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    fail(`${(e as Error).message}\n\n${usage}`);
  }
}

/** A numeric flag, or `fallback` when absent; exits on a non-number. */
export function numberFlag(value: string | undefined, name: string, fallback: number): number;
/** A numeric flag, or undefined when absent; exits on a non-number. */
export function numberFlag(value: string | undefined, name: string): number | undefined;
export function numberFlag(
  value: string | undefined,
  name: string,
  fallback?: number,
): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    fail(`--${name} must be a number, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Prints `message` to stderr and exits with status 2. */
export function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}
