/**
 * Small text files on disk for settings kept between processes (Deno only): read one if it is
 * there, write one atomically with its folder. Library code that also runs in a browser loads
 * this module with a dynamic `import()`, so that the browser build's static graph stays free of
 * `node:` imports and `Deno` calls.
 *
 * @module
 */
import { dirname } from "node:path";
import { writeFileAtomic } from "./fs_model_source.ts";

/**
 * The text of the file at `path`, or null when there is no such file (other errors throw).
 *
 * @example
 * ```ts
 * const text = await readTextIfPresent("./kernel_choices.json"); // null on a first run
 * ```
 */
export async function readTextIfPresent(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Writes `text` to `path` atomically, creating the folder first.
 *
 * @example
 * ```ts
 * await writeTextAtomic("/home/me/.cache/webgpu-lora/kernel_choices.json", "{}\n");
 * ```
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text);
}
