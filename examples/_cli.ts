/**
 * Small helpers shared by the command-line examples: flag parsing, folder checks and error
 * reporting with clear messages.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { type ChatTemplateKwargs, checkChatTemplateKwargs, checkSeed } from "../mod.ts";

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

/** `--seed`: an integer in [0, 2^32) (the GPU kernels' seeds are 32-bit), or `fallback`. */
export function seedFlag(value: string | undefined, fallback: number): number {
  const seed = numberFlag(value, "seed", fallback);
  try {
    checkSeed(seed, "--seed");
  } catch (e) {
    fail((e as Error).message);
  }
  return seed;
}

/**
 * Checks an output folder before any work: its parent must be an existing folder, and the
 * folder itself new or empty unless `overwrite` (`--overwrite`) allows replacing what is there;
 * exits 2 with the reason otherwise. Creates nothing.
 */
export async function checkOutFolder(out: string, overwrite: boolean): Promise<void> {
  const parent = dirname(resolve(out));
  const parentIsDir = await Deno.stat(parent).then((s) => s.isDirectory, () => null);
  if (parentIsDir === null) fail(`--out ${out}: its parent folder ${parent} does not exist`);
  if (!parentIsDir) fail(`--out ${out}: ${parent} is not a folder`);
  const stat = await Deno.stat(out).catch(() => null);
  if (stat === null) return;
  if (!stat.isDirectory) fail(`--out ${out} is a file, not a folder`);
  const entries = await Array.fromAsync(Deno.readDir(out));
  if (entries.length > 0 && !overwrite) {
    fail(
      `Output folder ${out} is not empty: choose a new folder, or pass --overwrite to replace it`,
    );
  }
}

/**
 * `--chat-template-kwargs`: a JSON object of chat template variables, e.g.
 * `'{"enable_thinking": false}'`, or undefined when absent; exits on bad JSON or a non-object.
 */
export function chatTemplateKwargsFlag(value: string | undefined): ChatTemplateKwargs | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (e) {
    fail(`--chat-template-kwargs is not valid JSON (${(e as Error).message}): ${value}`);
  }
  try {
    return checkChatTemplateKwargs(parsed);
  } catch (e) {
    fail(`--chat-template-kwargs: ${(e as Error).message}`);
  }
}

/** Prints `message` to stderr and exits with status 2. */
export function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

/** Exits with a clear message unless `dir` is a folder holding `file` (its `what`: Model, Adapter...). */
export async function requireFolder(dir: string, file: string, what: string): Promise<void> {
  const isDir = await Deno.stat(dir).then((s) => s.isDirectory, () => null);
  if (isDir === null) fail(`${what} folder ${dir} not found`);
  if (!isDir) fail(`${what} folder ${dir} is not a folder`);
  const hasFile = await Deno.stat(join(dir, file)).then((s) => s.isFile, () => false);
  if (!hasFile) fail(`${what} folder ${dir} has no ${file}`);
}

/**
 * Runs a command's body; an error it throws (bad data, a corrupt or mismatched file) is printed
 * as its message alone, without a stack trace, and exits with status 1.
 */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
