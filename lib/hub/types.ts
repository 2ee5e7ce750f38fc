/**
 * Shared types of the hub clients and the downloader.
 *
 * @module
 */

/** One file of a model repository, as the hub lists it. */
export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Lower-case hex sha256, when the hub gives one. */
  sha256?: string;
}

/** A model repository at one revision on one hub. */
export interface HubRepo {
  /** The hub's name for messages, e.g. `ModelScope`. */
  hub: string;
  /** The model id, `owner/name`. */
  model: string;
  /** The revision (branch, tag or commit). */
  revision: string;
  /** The environment variable a user sets to pass a token, for messages. */
  tokenEnv: string;
  /** Request headers that carry the token (empty without one). */
  authHeaders: Record<string, string>;
  /** Lists every file of the repository, recursively. */
  listFiles(signal?: AbortSignal): Promise<HubFile[]>;
  /** The download URL of one file. */
  fileUrl(path: string): string;
  /** Reads a sha256 from the headers of a file's first response, when the hub sends one. */
  sha256FromHeaders(headers: Headers): string | undefined;
}

/** What the downloader reports, for progress display. Paths are repository paths. */
export type DownloadEvent =
  /** The files that will be fetched, and their total size. */
  | { type: "plan"; files: { path: string; size: number }[]; totalBytes: number }
  /** A file is already complete (size and sha256 match) and is not fetched again. */
  | { type: "skip"; path: string; size: number }
  /** Hashing bytes already on disk (a complete file or a `.part` to resume). */
  | { type: "verify"; path: string; bytes: number }
  /** A request for a file starts at byte `offset` (non-zero when resuming a `.part`). */
  | { type: "start"; path: string; size: number; offset: number }
  /** `bytes` more bytes were written; `received` bytes of the file are on disk in all. */
  | { type: "progress"; path: string; bytes: number; received: number }
  /** The `.part` was discarded and the file starts over from byte 0. */
  | { type: "restart"; path: string; reason: string }
  /** An attempt failed; the next one starts after `delayMs`. */
  | { type: "retry"; path: string; attempt: number; delayMs: number; error: string }
  /** The file is verified and in place. */
  | { type: "done"; path: string; size: number };
