/**
 * Downloads one file of a hub repository, robustly:
 * - writes to `<dest>.part` and renames it to `<dest>` only once it is complete and verified;
 * - resumes a `.part` left by an earlier run with `Range: bytes=N-` (a server that answers 200
 *   instead of 206 makes it start over);
 * - retries network failures, 429 and 5xx with exponential backoff, resuming each time;
 * - checks the size and, where the hub gives one, the sha256;
 * - skips a file already complete on disk.
 *
 * @module
 */

import { dirname } from "node:path";
import type { Hash } from "node:crypto";
import { hashFileInto, newSha256 } from "./_file_hash.ts";
import { errorDetail, getFollowingRedirects } from "./_http.ts";
import { errorForStatus, type FailureContext, failureContext, HubError } from "./hub_error.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import type { DownloadEvent, HubFile, HubRepo } from "./types.ts";

/** Options of {@linkcode downloadFile}. */
export interface DownloadFileOptions {
  /** The retry policy. */
  retry?: RetryOptions;
  /** Receives progress events. */
  onEvent?: (event: DownloadEvent) => void;
  /** Cancels the download (the `.part` stays for a later resume). */
  signal?: AbortSignal;
}

/** The outcome of {@linkcode downloadFile}. */
export interface DownloadedFile {
  /** The file on disk. */
  dest: string;
  /** Its size in bytes. */
  size: number;
  /** True when it was already complete and nothing was fetched. */
  skipped: boolean;
}

/**
 * Downloads `file` of `repo` to `dest` (see the module doc for what makes it robust).
 *
 * @throws {HubError} `auth` (401/403), `not_found` (404), `checksum` (the sha256 differed twice),
 *   `disk_full` (the `.part` is kept for resuming), or the last retryable error once the
 *   attempts are used up
 */
export async function downloadFile(
  repo: HubRepo,
  file: HubFile,
  dest: string,
  options: DownloadFileOptions = {},
): Promise<DownloadedFile> {
  const emit = options.onEvent ?? (() => {});
  const context = failureContext(
    repo,
    `file ${file.path} of ${repo.model} (revision ${repo.revision})`,
  );
  if (await isComplete(dest, file, emit)) {
    await Deno.remove(`${dest}.part`).catch(() => {}); // a stale one from an older attempt
    emit({ type: "skip", path: file.path, size: file.size });
    return { dest, size: file.size, skipped: true };
  }
  await Deno.mkdir(dirname(dest), { recursive: true });
  const job: Job = {
    repo,
    file,
    part: `${dest}.part`,
    dest,
    context,
    emit,
    signal: options.signal,
    sha256: file.sha256,
    hash: newSha256(),
    hashed: 0,
    checksumFailures: 0,
  };
  await withRetry(
    () => attempt(job),
    options.retry,
    (attemptNo, delayMs, error) =>
      emit({
        type: "retry",
        path: file.path,
        attempt: attemptNo,
        delayMs,
        error: (error as Error).message,
      }),
  );
  emit({ type: "done", path: file.path, size: file.size });
  return { dest, size: file.size, skipped: false };
}

/** The state of one file's download across attempts. */
interface Job {
  repo: HubRepo;
  file: HubFile;
  part: string;
  dest: string;
  context: FailureContext;
  emit: (event: DownloadEvent) => void;
  signal?: AbortSignal;
  /** The expected sha256: from the listing, else from the hub's response headers. */
  sha256?: string;
  /** The sha256 state of the first `hashed` bytes of the `.part`. */
  hash: Hash;
  hashed: number;
  checksumFailures: number;
}

/** True when `dest` exists with the listed size and, when known, the listed sha256. */
async function isComplete(
  dest: string,
  file: HubFile,
  emit: (event: DownloadEvent) => void,
): Promise<boolean> {
  const size = await fileSize(dest);
  if (size !== file.size) return false;
  if (file.sha256 === undefined) return true;
  emit({ type: "verify", path: file.path, bytes: size });
  const hash = newSha256();
  await hashFileInto(hash, dest);
  return hash.digest("hex") === file.sha256;
}

/** One attempt: resume or start the `.part`, stream the body into it, verify, rename. */
async function attempt(job: Job): Promise<void> {
  const { file, part, emit } = job;
  let offset = (await fileSize(part)) ?? 0;
  if (offset > file.size) {
    await restart(job, `the partial file has ${offset} bytes, more than the file's ${file.size}`);
    offset = 0;
  }
  if (offset === file.size && offset > 0) return await finish(job);

  const headers = { ...job.repo.authHeaders, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) };
  const { response, firstHeaders } = await getFollowingRedirects(
    job.repo.fileUrl(file.path),
    headers,
    job.signal,
  );
  const announced = job.repo.sha256FromHeaders(firstHeaders);
  if (announced !== undefined && job.sha256 !== undefined && announced !== job.sha256) {
    await response.body?.cancel();
    throw new HubError(
      "bad_response",
      `${job.context.hub} lists sha256 ${job.sha256} for ${job.context.what} but serves ` +
        `${announced}: the revision changed during the download, run again`,
    );
  }
  job.sha256 ??= announced;
  if (response.status === 416) {
    await response.body?.cancel();
    await restart(job, "the server refused the range of the partial file");
    throw new HubError("bad_response", `Range request for ${file.path} was refused`, {
      retryable: true,
    });
  }
  if (!response.ok) {
    throw errorForStatus(response.status, job.context, await errorDetail(response));
  }
  if (response.status === 206) {
    const start = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== offset) {
      await response.body?.cancel();
      await restart(job, `the server sent a range starting at ${start}, not ${offset}`);
      throw new HubError("bad_response", `Unexpected Content-Range for ${file.path}`, {
        retryable: true,
      });
    }
  } else if (offset > 0) {
    await restart(job, `the server answered ${response.status} to a range request`);
    offset = 0;
  }
  emit({ type: "start", path: file.path, size: file.size, offset });
  if (job.hashed !== offset) await rehashPart(job, offset);
  await receive(job, response, offset);
  await finish(job);
}

/** Streams the response body onto the end of the `.part`, hashing and reporting as it goes. */
async function receive(job: Job, response: Response, offset: number): Promise<void> {
  const { file, part } = job;
  let received = offset;
  const diskFull = (error: unknown) =>
    (error as { code?: string }).code === "ENOSPC"
      ? new HubError(
        "disk_full",
        `Disk full while writing ${part} (${received} of ${file.size} bytes written): free ` +
          `some space and run again to resume`,
        { cause: error },
      )
      : error;
  let out: Deno.FsFile;
  try {
    out = await Deno.open(part, {
      write: true,
      create: true,
      append: offset > 0,
      truncate: offset === 0,
    });
  } catch (error) {
    await response.body?.cancel();
    throw diskFull(error);
  }
  try {
    if (response.body === null) throw new HubError("bad_response", `Empty body for ${file.path}`);
    const reader = response.body.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (job.signal?.aborted) throw error;
        throw new HubError(
          "network",
          `Connection broke after ${received} of ${file.size} bytes of ${file.path}: ` +
            (error as Error).message,
          { cause: error },
        );
      }
      if (chunk.done) break;
      const bytes = chunk.value; // (n) bytes of the body
      if (received + bytes.length > file.size) {
        await reader.cancel();
        await restart(job, "the server sent more bytes than listed");
        throw new HubError(
          "bad_response",
          `${job.context.hub} sent more than the ${file.size} bytes listed for ${file.path}: ` +
            `the revision changed during the download, run again`,
        );
      }
      try {
        for (let n = 0; n < bytes.length;) n += await out.write(bytes.subarray(n));
      } catch (error) {
        await reader.cancel();
        throw diskFull(error);
      }
      job.hash.update(bytes);
      job.hashed += bytes.length;
      received += bytes.length;
      job.emit({ type: "progress", path: file.path, bytes: bytes.length, received });
    }
    await out.sync().catch((error) => {
      throw diskFull(error);
    });
  } finally {
    out.close();
  }
  if (received < file.size) {
    throw new HubError(
      "network",
      `Connection closed after ${received} of ${file.size} bytes of ${file.path}`,
    );
  }
}

/** Checks the complete `.part` against the sha256 and renames it into place. */
async function finish(job: Job): Promise<void> {
  if (job.hashed !== job.file.size) await rehashPart(job, job.file.size);
  const actual = job.hash.copy().digest("hex");
  if (job.sha256 !== undefined && actual !== job.sha256) {
    job.checksumFailures++;
    await restart(job, `sha256 mismatch (got ${actual})`);
    throw new HubError(
      "checksum",
      `Checksum mismatch for ${job.context.what}: expected sha256 ${job.sha256}, got ${actual}` +
        (job.checksumFailures > 1 ? " twice; the partial file was deleted" : ""),
      { retryable: job.checksumFailures === 1 },
    );
  }
  await Deno.rename(job.part, job.dest);
}

/** Re-reads the first `length` bytes of the `.part` into a fresh hash. */
async function rehashPart(job: Job, length: number): Promise<void> {
  job.hash = newSha256();
  job.hashed = 0;
  if (length === 0) return;
  job.emit({ type: "verify", path: job.file.path, bytes: length });
  job.hashed = await hashFileInto(job.hash, job.part, length);
}

/** Deletes the `.part` and resets the hash, so the next request starts from byte 0. */
async function restart(job: Job, reason: string): Promise<void> {
  await Deno.remove(job.part).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  job.hash = newSha256();
  job.hashed = 0;
  job.emit({ type: "restart", path: job.file.path, reason });
}

/** The size of a file, or undefined when it does not exist. */
async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
