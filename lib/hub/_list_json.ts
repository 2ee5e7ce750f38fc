/**
 * GET a hub's JSON file listing, with credentials and clear errors.
 *
 * @module
 */

import { errorDetail, getFollowingRedirects } from "./_http.ts";
import { errorForStatus, failureContext, HubError } from "./hub_error.ts";
import type { HubRepo } from "./types.ts";

/** A JSON body and the response's `Link` header (for paging). */
export interface JsonPage {
  /** The parsed body. */
  body: unknown;
  /** The `Link` header, when present. */
  link: string | null;
}

/**
 * GETs `url` as JSON for `repo`'s file listing. Error statuses become {@linkcode HubError}s
 * that name the repository; a body that is not JSON is a retryable `bad_response`. The
 * repository's credentials go only to `url`s on `credentialOrigin` (default: any), as for
 * redirects: a next-page link to another host gets none.
 */
export async function getListingJson(
  repo: Omit<HubRepo, "listFiles">,
  url: string,
  signal?: AbortSignal,
  credentialOrigin?: string,
): Promise<JsonPage> {
  const sameOrigin = credentialOrigin === undefined || new URL(url).origin === credentialOrigin;
  const headers = sameOrigin ? repo.authHeaders : {};
  const { response } = await getFollowingRedirects(url, headers, signal);
  if (!response.ok) {
    const what = `repository ${repo.model} at revision ${repo.revision}`;
    throw errorForStatus(response.status, failureContext(repo, what), await errorDetail(response));
  }
  const text = await response.text().catch((error) => {
    throw new HubError("network", `Connection broke while listing ${repo.model}: ${error}`);
  });
  try {
    return { body: JSON.parse(text), link: response.headers.get("link") };
  } catch {
    throw new HubError(
      "bad_response",
      `${repo.hub} sent a file list for ${repo.model} that is not JSON: ${text.slice(0, 80)}`,
      { retryable: true },
    );
  }
}
