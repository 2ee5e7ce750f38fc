/**
 * Writing a whole folder atomically (the thin Deno layer): the files go to a temporary sibling
 * folder that is then renamed into place, so a reader — or a resumed run — sees either the old
 * folder or the complete new one, never a mix of steps.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { writeModelFiles } from "./fs_model_source.ts";

/**
 * Replaces `dir` with a folder holding exactly `files` (relative path → bytes).
 *
 * @example
 * ```ts
 * const files = serializeTrainingState(state, model.config, "Llama-3.2-1B");
 * await writeFolderAtomic(`./lora_output/checkpoint-${state.step}`, files);
 * ```
 */
export function writeFolderAtomic(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  return replaceFolderAtomic(dir, (temp) => writeModelFiles(temp, files));
}

/**
 * Replaces `dir` with the folder `fill` writes into the temporary sibling folder it is given
 * (created empty), e.g. a file at a time, so that big folders never sit whole in memory.
 *
 * @example
 * ```ts
 * await replaceFolderAtomic("./merged", async (temp) => {
 *   for (const { path, bytes } of shards) await Deno.writeFile(join(temp, path), bytes);
 * });
 * ```
 */
export async function replaceFolderAtomic(
  dir: string,
  fill: (temp: string) => Promise<void>,
): Promise<void> {
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  const temp = join(parent, `.${basename(dir)}.tmp-${crypto.randomUUID()}`);
  const old = join(parent, `.${basename(dir)}.old-${crypto.randomUUID()}`);
  try {
    await Deno.mkdir(temp);
    await fill(temp);
    const existed = await Deno.rename(dir, old).then(() => true, (e) => {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    });
    await Deno.rename(temp, dir);
    if (existed) await Deno.remove(old, { recursive: true });
  } catch (e) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw e;
  }
}
