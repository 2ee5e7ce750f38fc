/**
 * HTTP GET that follows redirects itself, so that credentials never leave the hub's origin.
 *
 * @module
 */

import { HubError } from "./hub_error.ts";

/** Request headers that carry credentials: dropped when a redirect changes the origin. */
const CREDENTIAL_HEADERS = ["authorization", "cookie"];
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** The final response of a redirect chain, and the first one's headers (the hub's metadata). */
export interface FollowedResponse {
  /** The last response: not a redirect. */
  response: Response;
  /** Headers of the first response, e.g. Hugging Face's `X-Linked-Etag` on its redirect. */
  firstHeaders: Headers;
}

/**
 * GETs `url`, following up to 10 redirects. `Authorization` and `Cookie` are dropped as soon as
 * a redirect leaves the origin (scheme, host and port) of the request before it. Network
 * failures become retryable `HubError`s of kind `network`.
 */
export async function getFollowingRedirects(
  url: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<FollowedResponse> {
  const sent = new Headers(headers);
  let current = new URL(url);
  let firstHeaders: Headers | undefined;
  for (let hop = 0;; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { headers: sent, redirect: "manual", signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new HubError("network", `Cannot reach ${current.origin}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    firstHeaders ??= response.headers;
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) return { response, firstHeaders };
    await response.body?.cancel();
    if (hop === MAX_REDIRECTS) {
      throw new HubError("bad_response", `Too many redirects from ${url}`);
    }
    const next = new URL(location, current);
    if (next.origin !== current.origin) CREDENTIAL_HEADERS.forEach((h) => sent.delete(h));
    current = next;
  }
}

/** The hub's explanation of an error response: `X-Error-Message`, or a JSON body's message. */
export async function errorDetail(response: Response): Promise<string | undefined> {
  const text = await response.text().catch(() => "");
  const header = response.headers.get("x-error-message");
  if (header) return header;
  try {
    const body = JSON.parse(text);
    const message = body?.Message ?? body?.error ?? body?.message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}
