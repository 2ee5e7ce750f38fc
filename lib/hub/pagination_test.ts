/**
 * Hugging Face listing pagination against local fake hubs (Deno.serve): the token never follows
 * a next-page link to another host, and a listing that never ends is an error, not a hang.
 */
import assert from "node:assert/strict";
import { HubError } from "./hub_error.ts";
import { huggingFaceRepo, MAX_LISTING_PAGES } from "./huggingface.ts";

/** A server answering every request with `answer`, recording each request's URL and auth. */
function fakeHub(answer: (url: URL, origin: string) => Response) {
  const requests: { url: string; authorization: string | null }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    requests.push({ url: req.url, authorization: req.headers.get("authorization") });
    return answer(new URL(req.url), new URL(req.url).origin);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { url, requests, close: () => server.shutdown() };
}

const page = (entries: unknown[], next?: string) =>
  Response.json(entries, next ? { headers: { link: `<${next}>; rel="next"` } } : {});
const file = (path: string) => ({ type: "file", path, size: 1 });

Deno.test("the token goes to the hub's next pages but not to a next page on another host", async () => {
  const other = fakeHub(() => page([file("b.txt")]));
  const hub = fakeHub((url, origin) =>
    url.searchParams.has("cursor")
      ? page([file("a2.txt")], `${other.url}/elsewhere`) // page 2 points away
      : page([file("a.txt")], `${origin}${url.pathname}?recursive=true&cursor=2`)
  );
  try {
    const repo = huggingFaceRepo("o/m", { endpoint: hub.url, token: "hf_secret" });
    const files = await repo.listFiles();
    assert.deepEqual(files.map((f) => f.path), ["a.txt", "a2.txt", "b.txt"]);
    assert.deepEqual(hub.requests.map((r) => r.authorization), [
      "Bearer hf_secret",
      "Bearer hf_secret",
    ]);
    assert.deepEqual(other.requests.map((r) => r.authorization), [null]);
  } finally {
    await hub.close();
    await other.close();
  }
});

Deno.test("a listing whose next page is itself stops at once with a clear error", async () => {
  const hub = fakeHub((url) => page([file("a.txt")], url.href));
  try {
    await assert.rejects(
      huggingFaceRepo("o/m", { endpoint: hub.url }).listFiles(),
      (e: HubError) =>
        e instanceof HubError &&
        /file list for o\/m does not end: its next page .* was already listed/.test(e.message),
    );
    assert.ok(hub.requests.length <= 2, `${hub.requests.length} requests`);
  } finally {
    await hub.close();
  }
});

Deno.test(`a listing with endless fresh pages stops after ${MAX_LISTING_PAGES} pages`, async () => {
  const hub = fakeHub((url) => {
    const n = Number(url.searchParams.get("cursor") ?? 0) + 1;
    return page([file(`f${n}.txt`)], `${url.origin}${url.pathname}?cursor=${n}`);
  });
  try {
    await assert.rejects(
      huggingFaceRepo("o/m", { endpoint: hub.url }).listFiles(),
      new RegExp(`does not end: more than ${MAX_LISTING_PAGES} pages`),
    );
    assert.equal(hub.requests.length, MAX_LISTING_PAGES);
  } finally {
    await hub.close();
  }
});
