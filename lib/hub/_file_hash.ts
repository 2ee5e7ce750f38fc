/**
 * Streaming sha256 of files on disk (model shards are gigabytes, so never read whole).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** A new sha256 hash state. */
export function newSha256(): Hash {
  return createHash("sha256");
}

/**
 * Feeds the first `length` bytes of a file into `hash` (all of it when `length` is omitted).
 *
 * @returns the number of bytes hashed
 */
export async function hashFileInto(hash: Hash, path: string, length = Infinity): Promise<number> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20); // (1 MiB) read buffer
  let done = 0;
  while (done < length) {
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, length - done)));
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    done += n;
  }
  return done;
}
