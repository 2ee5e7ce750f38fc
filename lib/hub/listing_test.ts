import assert from "node:assert/strict";
import { MockHub, sha256Hex } from "../../tests/_mock_hub.ts";
import { HubError } from "./hub_error.ts";
import { huggingFaceRepo } from "./huggingface.ts";
import { modelScopeRepo } from "./modelscope.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FILES = {
  "config.json": enc("{}"),
  "model.safetensors": enc("weights"),
  "original/params.json": enc("{}"),
  "a.txt": enc("a"),
  "b.txt": enc("bb"),
};

async function withHub(fn: (hub: MockHub) => Promise<void>, pageSize?: number) {
  const hub = MockHub.start({ "o/m": { files: FILES, lfs: ["model.safetensors"] } }, { pageSize });
  try {
    await fn(hub);
  } finally {
    await hub.close();
  }
}

const sorted = <T extends { path: string }>(files: T[]) =>
  [...files].sort((a, b) => a.path.localeCompare(b.path));

Deno.test("huggingFaceRepo lists files across pages, with LFS sha256 and no directories", async () => {
  await withHub(async (hub) => {
    const files = await huggingFaceRepo("o/m", { endpoint: hub.url }).listFiles();
    assert.deepEqual(sorted(files), [
      { path: "a.txt", size: 1 },
      { path: "b.txt", size: 2 },
      { path: "config.json", size: 2 },
      { path: "model.safetensors", size: 7, sha256: sha256Hex(FILES["model.safetensors"]) },
      { path: "original/params.json", size: 2 },
    ]);
    assert.equal(hub.requests.filter((r) => r.path.includes("/tree/")).length, 3); // 6 entries, pages of 2
  }, 2);
});

Deno.test("modelScopeRepo lists files with their sha256 and no directories", async () => {
  await withHub(async (hub) => {
    const files = await modelScopeRepo("o/m", { endpoint: hub.url }).listFiles();
    assert.deepEqual(
      sorted(files),
      sorted(
        Object.entries(FILES).map(([path, b]) => ({ path, size: b.length, sha256: sha256Hex(b) })),
      ),
    );
    assert.match(
      hub.requests[0].path,
      /^\/api\/v1\/models\/o\/m\/repo\/files\?Revision=master&Recursive=True$/,
    );
  });
});

Deno.test("listing a missing repository is a 404 that names it", async () => {
  await withHub(async (hub) => {
    for (
      const repo of [
        huggingFaceRepo("o/x", { endpoint: hub.url }),
        modelScopeRepo("o/x", { endpoint: hub.url }),
      ]
    ) {
      await assert.rejects(
        repo.listFiles(),
        (e) =>
          e instanceof HubError && e.kind === "not_found" &&
          e.message.includes("has no repository o/x at revision"),
      );
    }
  });
});

Deno.test("modelScopeRepo reports a listing that is not a success", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ Code: 10010205001, Message: "Revision v9 not found" }),
  );
  try {
    await assert.rejects(
      modelScopeRepo("o/m", { endpoint: `http://127.0.0.1:${server.addr.port}`, revision: "v9" })
        .listFiles(),
      /ModelScope could not list the files of o\/m at revision v9: Revision v9 not found/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("huggingFaceRepo reads a sha256 only from LFS etags", () => {
  const repo = huggingFaceRepo("o/m");
  const sha = "a".repeat(64);
  assert.equal(
    repo.sha256FromHeaders(new Headers({ "x-linked-etag": `"${sha}"`, etag: '"b"' })),
    sha,
  );
  assert.equal(repo.sha256FromHeaders(new Headers({ etag: `W/"${sha.toUpperCase()}"` })), sha);
  assert.equal(repo.sha256FromHeaders(new Headers({ etag: `"${"c".repeat(40)}"` })), undefined);
  assert.equal(repo.sha256FromHeaders(new Headers()), undefined);
});
