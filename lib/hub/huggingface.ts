/**
 * The Hugging Face hub: file list from `/api/models/{repo}/tree/{rev}?recursive=true` (paged by
 * `Link` headers, at most {@linkcode MAX_LISTING_PAGES}, the token sent only on the hub's origin), files from `/{repo}/resolve/{rev}/{path}`, token as `Authorization: Bearer`,
 * sha256 of LFS files from the listing's `lfs.oid` or the `X-Linked-Etag` header.
 *
 * @module
 */

import { z } from "../deps.ts";
import { getListingJson } from "./_list_json.ts";
import { HubError } from "./hub_error.ts";
import type { HubFile, HubRepo } from "./types.ts";

/**
 * The most listing pages followed (the Hub serves 1,000 entries a page): a listing that never
 * ends, e.g. a `Link` that points back at itself, is an error rather than an endless loop.
 */
export const MAX_LISTING_PAGES = 1000;

/** The public Hugging Face endpoint. */
export const HUGGING_FACE_ENDPOINT = "https://huggingface.co";

const TreeEntry = z.object({
  type: z.string(),
  path: z.string(),
  size: z.number().int().nonnegative(),
  lfs: z.object({ oid: z.string() }).nullish(),
});
const TreePage = z.array(TreeEntry);
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * A Hugging Face model repository.
 *
 * @param model the repository id, `owner/name`
 * @param options `endpoint` (default https://huggingface.co), `token`, `revision` (default main)
 *
 * @example
 * ```ts
 * const repo = huggingFaceRepo("meta-llama/Llama-3.2-1B", { token: Deno.env.get("HF_TOKEN") });
 * const files = await repo.listFiles();
 * ```
 */
export function huggingFaceRepo(
  model: string,
  options: { endpoint?: string; token?: string; revision?: string } = {},
): HubRepo {
  const endpoint = (options.endpoint ?? HUGGING_FACE_ENDPOINT).replace(/\/+$/, "");
  const revision = options.revision ?? "main";
  const rev = encodeURIComponent(revision);
  const repo: HubRepo = {
    hub: "Hugging Face",
    model,
    revision,
    tokenEnv: "HF_TOKEN",
    authHeaders: options.token ? { authorization: `Bearer ${options.token}` } : {},
    fileUrl: (path) =>
      `${endpoint}/${model}/resolve/${rev}/${path.split("/").map(encodeURIComponent).join("/")}`,
    sha256FromHeaders(headers) {
      const tag = (headers.get("x-linked-etag") ?? headers.get("etag") ?? "")
        .replace(/^W\//, "").replace(/"/g, "").toLowerCase();
      return SHA256.test(tag) ? tag : undefined;
    },
    async listFiles(signal) {
      const files: HubFile[] = [];
      const origin = new URL(endpoint).origin; // the token goes to the hub's own pages only
      let url: string | undefined = `${endpoint}/api/models/${model}/tree/${rev}?recursive=true`;
      const seen = new Set<string>();
      while (url !== undefined) {
        if (seen.has(url) || seen.size === MAX_LISTING_PAGES) {
          throw new HubError(
            "bad_response",
            `Hugging Face's file list for ${model} does not end: ` +
              (seen.has(url)
                ? `its next page ${url} was already listed`
                : `more than ${MAX_LISTING_PAGES} pages`),
          );
        }
        seen.add(url);
        const { body, link } = await getListingJson(repo, url, signal, origin);
        const page = TreePage.safeParse(body);
        if (!page.success) {
          throw new HubError(
            "bad_response",
            `Hugging Face sent an unexpected file list for ${model}: ${
              page.error.issues[0].message
            }`,
          );
        }
        for (const entry of page.data) {
          if (entry.type !== "file") continue;
          const sha256 = entry.lfs?.oid.toLowerCase();
          files.push({ path: entry.path, size: entry.size, ...(sha256 ? { sha256 } : {}) });
        }
        const next = link?.match(/<([^>]+)>\s*;\s*rel="next"/)?.[1];
        url = next === undefined ? undefined : new URL(next, url).href;
      }
      return files;
    },
  };
  return repo;
}
