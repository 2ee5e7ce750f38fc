/**
 * Clean-up after a crash mid-write. Atomic writes leave, when cut short, a temporary sibling
 * (`<file>.tmp-<uuid>` from `writeFileAtomic`, `.<folder>.tmp-<uuid>` from `writeFolderAtomic`)
 * and, for a folder caught between its two renames, the previous version as
 * `.<folder>.old-<uuid>`. This removes the temporaries, and puts an old folder back when its
 * replacement never arrived, so the folder is whole again (in its previous version).
 *
 * @module
 */
import { join } from "node:path";

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const TEMP_FILE = new RegExp(`^(.+)\\.tmp-${UUID}$`);
const OLD_FOLDER = new RegExp(`^\\.(.+)\\.old-${UUID}$`);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Removes the temporaries of interrupted atomic writes directly inside `dir` and restores
 * folders left renamed away; returns the names it removed or restored. A missing `dir` is
 * nothing to clean. Only the process that writes into `dir` may call it (no write may be under
 * way).
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const item of Deno.readDir(dir)) names.push(item.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const cleaned: string[] = [];
  for (const name of names) {
    const old = OLD_FOLDER.exec(name);
    if (old && !(await exists(join(dir, old[1])))) {
      await Deno.rename(join(dir, name), join(dir, old[1]));
      cleaned.push(name);
    } else if (old || TEMP_FILE.test(name)) {
      await Deno.remove(join(dir, name), { recursive: true });
      cleaned.push(name);
    }
  }
  return cleaned;
}
