import assert from "node:assert/strict";
import { join } from "node:path";
import { type Fault, MockHub, type MockHubOptions, type MockRepo } from "../../tests/_mock_hub.ts";
import { downloadFile } from "./download_file.ts";
import { HubError } from "./hub_error.ts";
import { huggingFaceRepo } from "./huggingface.ts";
import { modelScopeRepo } from "./modelscope.ts";
import type { DownloadEvent, HubRepo } from "./types.ts";

const NO_WAIT = { attempts: 4, sleep: () => Promise.resolve() };
const ID = "org/tiny-1.0";

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n); // (n)
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

const WEIGHTS = bytes(50_000, 7);
const CONFIG = new TextEncoder().encode('{"hidden_size": 8}');

interface Setup {
  hub: MockHub;
  dir: string;
  hf: (token?: string) => HubRepo;
  ms: (token?: string) => HubRepo;
}

/** Runs `fn` against a fresh mock hub and temp folder, then cleans both up. */
async function withHub(
  fn: (s: Setup) => Promise<void>,
  repo: Partial<MockRepo> = {},
  options: MockHubOptions = {},
): Promise<void> {
  const hub = MockHub.start({
    [ID]: {
      files: { "config.json": CONFIG, "model.safetensors": WEIGHTS },
      lfs: ["model.safetensors"],
      ...repo,
    },
  }, options);
  const dir = await Deno.makeTempDir();
  try {
    await fn({
      hub,
      dir,
      hf: (token) => huggingFaceRepo(ID, { endpoint: hub.url, token }),
      ms: (token) => modelScopeRepo(ID, { endpoint: hub.url, token }),
    });
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Downloads one file and checks, at every event and after a failure, that the final name holds
 * either what it held before or the complete file: never a partial one.
 */
async function fetchWatched(
  repo: HubRepo,
  path: string,
  dest: string,
  faults?: { hub: MockHub; faults: Fault[] },
) {
  if (faults) faults.hub.fault(path, ...faults.faults);
  const file = (await repo.listFiles()).find((f) => f.path === path)!;
  const complete = path === "config.json" ? CONFIG : WEIGHTS;
  const before = exists(dest) ? Deno.readFileSync(dest) : undefined;
  const check = (when: string) => {
    if (!exists(dest)) return;
    const now = Deno.readFileSync(dest);
    const ok = equal(now, complete) || (before !== undefined && equal(now, before));
    assert.ok(ok, `${dest} holds a partial or foreign file ${when}`);
  };
  const events: DownloadEvent[] = [];
  const onEvent = (e: DownloadEvent) => {
    events.push(e);
    check(`at ${e.type}`);
  };
  try {
    const result = await downloadFile(repo, file, dest, { retry: NO_WAIT, onEvent });
    return { result, events };
  } catch (error) {
    check("after a failure");
    throw error;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("downloadFile fetches an LFS file through the CDN redirect, without the token there", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "model.safetensors");
    const { result, events } = await fetchWatched(hf("secret"), "model.safetensors", dest);
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
    assert.deepEqual(result, { dest, size: WEIGHTS.length, skipped: false });
    assert.equal(exists(`${dest}.part`), false);
    const resolve = hub.requests.find((r) => r.path.includes("/resolve/"))!;
    assert.equal(resolve.authorization, "Bearer secret");
    const cdn = hub.byteRequests("model.safetensors");
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].server, "cdn");
    assert.equal(cdn[0].authorization, null);
    const progress = events.filter((e) => e.type === "progress");
    assert.equal(
      progress.reduce((s, e) => s + (e.type === "progress" ? e.bytes : 0), 0),
      WEIGHTS.length,
    );
    assert.deepEqual(events.at(-1), {
      type: "done",
      path: "model.safetensors",
      size: WEIGHTS.length,
    });
  }, { token: "secret" });
});

Deno.test("downloadFile drops the ModelScope cookie on a redirect to another origin", async () => {
  await withHub(
    async ({ hub, dir, ms }) => {
      await fetchWatched(ms("secret"), "model.safetensors", join(dir, "w"));
      const file = hub.requests.find((r) => r.path.includes("FilePath="))!;
      assert.equal(file.cookie, "m_session_id=secret");
      const cdn = hub.byteRequests("model.safetensors");
      assert.deepEqual(cdn.map((r) => [r.server, r.cookie, r.authorization]), [[
        "cdn",
        null,
        null,
      ]]);
    },
    { token: "secret" },
    { modelScopeRedirect: true },
  );
});

Deno.test("downloadFile resumes with a Range request after the connection is cut", async () => {
  for (const source of ["hf", "ms"] as const) {
    await withHub(async (s) => {
      const dest = join(s.dir, "model.safetensors");
      const { events } = await fetchWatched(s[source](), "model.safetensors", dest, {
        hub: s.hub,
        faults: [{ kind: "cut", after: 20_000 }, { kind: "cut", after: 10_000 }],
      });
      assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
      assert.deepEqual(s.hub.byteRequests("model.safetensors").map((r) => r.range), [
        null,
        "bytes=20000-",
        "bytes=30000-",
      ]);
      assert.deepEqual(
        events.filter((e) => e.type === "start").map((e) => e.type === "start" && e.offset),
        [0, 20000, 30000],
      );
      assert.equal(events.filter((e) => e.type === "retry").length, 2);
    });
  }
});

Deno.test("downloadFile starts over when the server answers 200 to a Range request", async () => {
  await withHub(async ({ hub, dir, ms }) => {
    const dest = join(dir, "model.safetensors");
    const { events } = await fetchWatched(ms(), "model.safetensors", dest, {
      hub,
      faults: [{ kind: "cut", after: 30_000 }, { kind: "ignore_range" }],
    });
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
    assert.deepEqual(hub.byteRequests("model.safetensors").map((r) => r.range), [
      null,
      "bytes=30000-",
    ]);
    const restart = events.find((e) => e.type === "restart");
    assert.ok(
      restart?.type === "restart" && /answered 200 to a range request/.test(restart.reason),
    );
  });
});

Deno.test("downloadFile resumes a .part left by an earlier run", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "model.safetensors");
    await Deno.writeFile(`${dest}.part`, WEIGHTS.subarray(0, 12_345));
    await fetchWatched(hf(), "model.safetensors", dest);
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
    assert.deepEqual(hub.byteRequests("model.safetensors").map((r) => r.range), ["bytes=12345-"]);
  });
});

Deno.test("downloadFile starts over once when a resumed .part fails the checksum", async () => {
  await withHub(async ({ hub, dir, ms }) => {
    const dest = join(dir, "model.safetensors");
    await Deno.writeFile(`${dest}.part`, bytes(12_345, 99)); // stale bytes from another file
    const { events } = await fetchWatched(ms(), "model.safetensors", dest);
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
    assert.deepEqual(hub.byteRequests("model.safetensors").map((r) => r.range), [
      "bytes=12345-",
      null,
    ]);
    assert.ok(events.some((e) => e.type === "restart" && /sha256 mismatch/.test(e.reason)));
  });
});

Deno.test("downloadFile rejects a wrong checksum twice and leaves nothing behind", async () => {
  for (
    const [source, options] of [["ms", {}], ["hf", {}], ["hf", { hideListedSha: true }]] as const
  ) {
    await withHub(
      async (s) => {
        const dest = join(s.dir, "model.safetensors");
        await assert.rejects(
          fetchWatched(s[source](), "model.safetensors", dest, {
            hub: s.hub,
            faults: [{ kind: "corrupt" }, { kind: "corrupt" }],
          }),
          (e: unknown) =>
            e instanceof HubError &&
            e.kind === "checksum" &&
            e.message.startsWith(`Checksum mismatch for file model.safetensors of ${ID}`) &&
            e.message.includes("twice"),
        );
        assert.equal(exists(`${dest}.part`), false);
        assert.equal(s.hub.byteRequests("model.safetensors").length, 2);
      },
      {},
      options,
    );
  }
});

Deno.test("downloadFile recovers from one corrupted transfer", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "model.safetensors");
    await fetchWatched(hf(), "model.safetensors", dest, { hub, faults: [{ kind: "corrupt" }] });
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
  });
});

Deno.test("downloadFile explains 401 with the token variable of each hub", async () => {
  await withHub(async ({ hub, dir, hf, ms }) => {
    const file = { path: "model.safetensors", size: WEIGHTS.length };
    for (const [repo, env] of [[hf(), "HF_TOKEN"], [ms(), "MODELSCOPE_API_TOKEN"]] as const) {
      await assert.rejects(
        downloadFile(repo, file, join(dir, "w"), { retry: NO_WAIT }),
        (e: unknown) =>
          e instanceof HubError &&
          e.kind === "auth" && e.status === 401 && e.message.includes(`with ${env}=<token>`) &&
          e.message.includes("file model.safetensors of org/tiny-1.0"),
      );
    }
    await assert.rejects(
      downloadFile(hf("wrong"), file, join(dir, "w"), { retry: NO_WAIT }),
      /the token in HF_TOKEN was refused/,
    );
    assert.equal(hub.byteRequests("model.safetensors").length, 0);
    assert.equal(hub.requests.length, 3); // no retries for 401
    assert.equal(exists(join(dir, "w")), false);
  }, { token: "secret" });
});

Deno.test("downloadFile names the missing file on 404", async () => {
  await withHub(async ({ dir, hf, ms }) => {
    for (const repo of [hf(), ms()]) {
      await assert.rejects(
        downloadFile(repo, { path: "nope.json", size: 3 }, join(dir, "nope.json"), {
          retry: NO_WAIT,
        }),
        (e: unknown) =>
          e instanceof HubError &&
          e.kind === "not_found" && e.message.includes("has no file nope.json of org/tiny-1.0") &&
          e.message.includes("HTTP 404"),
      );
    }
  });
});

Deno.test("downloadFile retries 5xx with exponential backoff", async () => {
  await withHub(async ({ hub, dir, ms }) => {
    hub.fault("config.json", { kind: "status", status: 503 }, { kind: "status", status: 500 });
    const delays: number[] = [];
    const file = (await ms().listFiles()).find((f) => f.path === "config.json")!;
    const dest = join(dir, "config.json");
    await downloadFile(ms(), file, dest, {
      retry: { baseDelayMs: 10, sleep: (ms) => (delays.push(ms), Promise.resolve()) },
    });
    assert.deepEqual(delays, [10, 20]);
    assert.deepEqual(await Deno.readFile(dest), CONFIG);
  });
});

Deno.test("downloadFile keeps the .part when the attempts run out", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "model.safetensors");
    const cuts: Fault[] = Array.from({ length: 4 }, () => ({ kind: "cut", after: 1000 }));
    await assert.rejects(
      fetchWatched(hf(), "model.safetensors", dest, { hub, faults: cuts }),
      (e: unknown) =>
        e instanceof HubError && e.kind === "network" &&
        /after 4000 of 50000 bytes/.test(e.message),
    );
    assert.deepEqual(await Deno.readFile(`${dest}.part`), WEIGHTS.subarray(0, 4000));
    await fetchWatched(hf(), "model.safetensors", dest); // a later run finishes it
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
  });
});

Deno.test("downloadFile skips a complete file and replaces a damaged one", async () => {
  await withHub(async ({ hub, dir, ms }) => {
    const dest = join(dir, "model.safetensors");
    await fetchWatched(ms(), "model.safetensors", dest);
    const again = await fetchWatched(ms(), "model.safetensors", dest);
    assert.equal(again.result.skipped, true);
    assert.deepEqual(again.events.map((e) => e.type), ["verify", "skip"]);
    assert.equal(hub.byteRequests("model.safetensors").length, 1);
    await Deno.writeFile(`${dest}.part`, WEIGHTS.subarray(0, 10)); // stale, from an older run
    assert.equal((await fetchWatched(ms(), "model.safetensors", dest)).result.skipped, true);
    assert.equal(exists(`${dest}.part`), false);
    const damaged = WEIGHTS.slice();
    damaged[0] ^= 1;
    await Deno.writeFile(dest, damaged);
    const redo = await fetchWatched(ms(), "model.safetensors", dest);
    assert.equal(redo.result.skipped, false);
    assert.deepEqual(await Deno.readFile(dest), WEIGHTS);
  });
});

Deno.test("downloadFile verifies by size alone when the hub gives no sha256", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "config.json");
    await fetchWatched(hf(), "config.json", dest);
    assert.deepEqual(await Deno.readFile(dest), CONFIG);
    const again = await fetchWatched(hf(), "config.json", dest);
    assert.deepEqual(again.events.map((e) => e.type), ["skip"]);
    assert.equal(hub.byteRequests("config.json").length, 1);
  });
});

Deno.test({
  name: "downloadFile reports a full disk and keeps the .part",
  ignore: !exists("/dev/full"),
  fn: async () => {
    await withHub(async ({ dir, ms }) => {
      const dest = join(dir, "model.safetensors");
      await Deno.symlink("/dev/full", `${dest}.part`); // every write fails with ENOSPC
      await assert.rejects(
        fetchWatched(ms(), "model.safetensors", dest),
        (e: unknown) =>
          e instanceof HubError &&
          e.kind === "disk_full" && e.message.startsWith(`Disk full while writing ${dest}.part`) &&
          e.message.includes("run again to resume"),
      );
      assert.equal(exists(`${dest}.part`), true);
    });
  },
});

Deno.test("downloadFile refuses a file whose served sha256 differs from the listed one", async () => {
  await withHub(async ({ dir, hf }) => {
    const moved: HubRepo = { ...hf(), sha256FromHeaders: () => "f".repeat(64) };
    await assert.rejects(
      fetchWatched(moved, "model.safetensors", join(dir, "w")),
      (e: unknown) =>
        e instanceof HubError && e.kind === "bad_response" &&
        e.message.includes("the revision changed during the download"),
    );
    assert.equal(exists(join(dir, "w.part")), false);
  });
});

Deno.test("downloadFile stops on abort and keeps the .part for a later run", async () => {
  await withHub(async ({ hub, dir, ms }) => {
    const dest = join(dir, "model.safetensors");
    const file = (await ms().listFiles()).find((f) => f.path === "model.safetensors")!;
    const controller = new AbortController();
    hub.fault("model.safetensors", { kind: "cut", after: 25_000 });
    const onEvent = (e: DownloadEvent) => {
      if (e.type === "retry") controller.abort(); // interrupted while waiting to resume
    };
    await assert.rejects(
      downloadFile(ms(), file, dest, {
        retry: { sleep: () => Promise.resolve() },
        onEvent,
        signal: controller.signal,
      }),
      (e: unknown) => e instanceof DOMException && e.name === "AbortError",
    );
    assert.equal(exists(dest), false);
    assert.equal((await Deno.stat(`${dest}.part`)).size, 25_000);
  });
});

Deno.test("downloadFile refuses a file longer than listed and drops the .part", async () => {
  await withHub(async ({ hub, dir, hf }) => {
    const dest = join(dir, "model.safetensors");
    await assert.rejects(
      fetchWatched(hf(), "model.safetensors", dest, { hub, faults: [{ kind: "grow", extra: 5 }] }),
      (e: unknown) =>
        e instanceof HubError && e.kind === "bad_response" &&
        e.message.includes(`sent more than the ${WEIGHTS.length} bytes listed`),
    );
    assert.equal(exists(`${dest}.part`), false);
    assert.equal(hub.byteRequests("model.safetensors").length, 1);
  });
});
