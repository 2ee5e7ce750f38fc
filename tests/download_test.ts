import assert from "node:assert/strict";
import { join } from "node:path";
import { downloadModel } from "../lib/hub/download_model.ts";
import { HubError } from "../lib/hub/hub_error.ts";
import type { DownloadEvent } from "../lib/hub/types.ts";
import { MockHub, type MockRepo } from "./_mock_hub.ts";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import { dirModelSource } from "../lib/format/fs_model_source.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const shard = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const INDEX = {
  metadata: { total_size: 30 },
  weight_map: {
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.norm.weight": "model-00002-of-00002.safetensors",
  },
};
const SHARDED: MockRepo = {
  files: {
    "config.json": enc('{"model_type": "llama"}'),
    "generation_config.json": enc("{}"),
    "tokenizer.json": enc('{"model": {}}'),
    "tokenizer_config.json": enc("{}"),
    "model.safetensors.index.json": enc(JSON.stringify(INDEX)),
    "model-00001-of-00002.safetensors": shard(20_000, 1),
    "model-00002-of-00002.safetensors": shard(10_000, 2),
    "consolidated.safetensors": shard(30_000, 3),
    "original/params.json": enc("{}"),
    "README.md": enc("# m"),
  },
  lfs: ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
};
const FETCHED = [
  "config.json",
  "generation_config.json",
  "model-00001-of-00002.safetensors",
  "model-00002-of-00002.safetensors",
  "model.safetensors.index.json",
  "tokenizer.json",
  "tokenizer_config.json",
];
/** What a download leaves: the files fetched and `.hub_source.json`, where they came from. */
const WRITTEN = [".hub_source.json", ...FETCHED];
const NO_WAIT = { attempts: 3, sleep: () => Promise.resolve() };

async function withHub(fn: (hub: MockHub, out: string) => Promise<void>, repo = SHARDED) {
  const hub = MockHub.start({ "Org/Tiny-0.1B": repo });
  const out = await Deno.makeTempDir();
  try {
    await fn(hub, out);
  } finally {
    await hub.close();
    await Deno.remove(out, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("downloadModel fetches what a model needs from either hub into the ModelScope layout", async () => {
  for (const source of ["modelscope", "huggingface"] as const) {
    await withHub(async (hub, out) => {
      const events: DownloadEvent[] = [];
      const { dir, files } = await downloadModel({
        model: "Org/Tiny-0.1B",
        source,
        out,
        endpoint: hub.url,
        retry: NO_WAIT,
        env: () => undefined,
        onEvent: (e) => events.push(e),
      });
      assert.equal(dir, join(out, "Org", "Tiny-0___1B"));
      assert.deepEqual(await listDir(dir), WRITTEN);
      for (const name of FETCHED) {
        assert.deepEqual(await Deno.readFile(join(dir, name)), SHARDED.files[name]);
      }
      assert.deepEqual(files.map((f) => f.path).sort(), FETCHED);
      assert.ok(files.every((f) => !f.skipped), "a fresh download skips nothing");
      const plan = events.find((e) => e.type === "plan");
      assert.ok(plan?.type === "plan");
      assert.equal(plan.totalBytes, FETCHED.reduce((s, p) => s + SHARDED.files[p].length, 0));
      assert.equal(hub.byteRequests("consolidated.safetensors").length, 0);
      assert.equal(hub.byteRequests("model.safetensors.index.json").length, 1);
    });
  }
});

Deno.test("downloadModel skips complete files when run again", async () => {
  await withHub(async (hub, out) => {
    const options = {
      model: "Org/Tiny-0.1B",
      out,
      endpoint: hub.url,
      retry: NO_WAIT,
      env: () => undefined,
    };
    await downloadModel(options);
    const before = hub.requests.filter((r) => r.served !== undefined).length;
    const again = await downloadModel(options);
    assert.ok(again.files.every((f) => f.skipped));
    assert.equal(hub.requests.filter((r) => r.served !== undefined).length, before);
  });
});

Deno.test("downloadModel resumes a shard after a cut and leaves no .part behind", async () => {
  await withHub(async (hub, out) => {
    hub.fault("model-00001-of-00002.safetensors", { kind: "cut", after: 7000 });
    const { dir } = await downloadModel({
      model: "Org/Tiny-0.1B",
      source: "huggingface",
      out,
      endpoint: hub.url,
      retry: NO_WAIT,
      env: () => undefined,
    });
    assert.deepEqual(
      hub.byteRequests("model-00001-of-00002.safetensors").map((r) => r.range),
      [null, "bytes=7000-"],
    );
    assert.deepEqual(await listDir(dir), WRITTEN);
  });
});

Deno.test("downloadModel explains a gated repository and a missing one", async () => {
  await withHub(async (hub, out) => {
    const base = { out, endpoint: hub.url, retry: NO_WAIT, env: () => undefined };
    await assert.rejects(
      downloadModel({ ...base, model: "Org/Tiny-0.1B" }),
      (e) =>
        e instanceof HubError && e.kind === "auth" &&
        e.message.includes("ModelScope denied access to repository Org/Tiny-0.1B") &&
        e.message.includes("MODELSCOPE_API_TOKEN=<token>"),
    );
    const ok = await downloadModel({
      ...base,
      model: "Org/Tiny-0.1B",
      env: (n) => n === "MODELSCOPE_API_TOKEN" ? "t0k" : undefined,
    });
    assert.equal(ok.files.length, FETCHED.length);
    await assert.rejects(
      downloadModel({ ...base, model: "Org/Nope", source: "huggingface", token: "t0k" }),
      (e) =>
        e instanceof HubError && e.kind === "not_found" &&
        e.message.includes("Hugging Face has no repository Org/Nope"),
    );
  }, { ...SHARDED, token: "t0k" });
});

Deno.test("downloadModel refuses a repository without safetensors weights", async () => {
  await withHub(async (hub, out) => {
    await assert.rejects(
      downloadModel({
        model: "Org/Tiny-0.1B",
        out,
        endpoint: hub.url,
        retry: NO_WAIT,
        env: () => undefined,
      }),
      /has no safetensors weights at its top level \(it has pytorch_model\.bin\)/,
    );
  }, { files: { "config.json": enc("{}"), "pytorch_model.bin": shard(10, 0) } });
});

Deno.test("examples/download.ts downloads, reports, and prints where the model is", async () => {
  await withHub(async (hub, out) => {
    const run = (extra: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "examples/download.ts",
          "--model",
          "Org/Tiny-0.1B",
          "--out",
          out,
          "--endpoint",
          hub.url,
          ...extra,
        ],
        cwd: new URL("..", import.meta.url),
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const first = await run(["--source", "huggingface"]);
    const stdout = new TextDecoder().decode(first.stdout);
    assert.equal(first.code, 0, new TextDecoder().decode(first.stderr));
    assert.match(stdout, /Fetching 7 files, 29\.\d+ KiB in all/);
    assert.match(
      stdout,
      new RegExp(
        `Model ready in ${
          join(out, "Org", "Tiny-0___1B")
        } \\(7 files: 7 downloaded, 0 already present\\)`,
      ),
    );
    const second = await run([]);
    assert.match(
      new TextDecoder().decode(second.stdout),
      /\(7 files: 0 downloaded, 7 already present\)/,
    );
    const bad = await run(["--source", "github"]);
    assert.equal(bad.code, 2);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /--source must be modelscope or huggingface, got github\nUsage: /,
    );
    const missing = await run(["--model", "Org/Nope"]);
    assert.equal(missing.code, 1);
    assert.match(
      new TextDecoder().decode(missing.stderr),
      /^Error: ModelScope has no repository Org\/Nope at revision master \(HTTP 404/,
    );
    // --json: one object, no progress lines.
    const json = await run(["--source", "huggingface", "--json"]);
    assert.equal(json.code, 0, new TextDecoder().decode(json.stderr));
    const report = JSON.parse(new TextDecoder().decode(json.stdout));
    assert.equal(report.dir, join(out, "Org", "Tiny-0___1B"));
    assert.equal(report.source, "huggingface");
    assert.equal(report.files.length, 7);
    assert.ok(report.files.every((f: { skipped: boolean }) => f.skipped));
    // The folder records where it came from, for adapters' base_model_name_or_path.
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(report.dir, ".hub_source.json"))), {
      source: "huggingface",
      model: "Org/Tiny-0.1B",
      revision: null,
    });
    // A file as --out, or an --out that cannot be created: a message, no stack trace.
    const file = join(out, "a-file");
    await Deno.writeTextFile(file, "x");
    const onFile = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "examples/download.ts", "--out", file, "--endpoint", hub.url],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(onFile.code, 2);
    assert.match(new TextDecoder().decode(onFile.stderr), /--out .*a-file is a file, not a folder/);
    const under = await run(["--source", "huggingface", "--out", join(file, "sub")]);
    const underErr = new TextDecoder().decode(under.stderr);
    assert.equal(under.code, 1, underErr);
    assert.match(underErr, /^Error: /);
    assert.doesNotMatch(underErr, /^\s+at /m);
  });
});

Deno.test("a Qwen3 repository downloads from either hub into the ModelScope layout and loads", async () => {
  const files = createFixtureModel({
    overrides: { architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", head_dim: 32 },
  });
  const repo: MockRepo = {
    files: {
      ...Object.fromEntries(files),
      "merges.txt": enc("#version: 0.2\n"), // the slow tokenizer's files, not needed
      "vocab.json": enc("{}"),
      "LICENSE": enc("Apache-2.0"),
    },
    lfs: ["model.safetensors"],
  };
  for (const source of ["modelscope", "huggingface"] as const) {
    const hub = MockHub.start({ "Qwen/Qwen3-0.6B": repo });
    const out = await Deno.makeTempDir();
    try {
      const { dir } = await downloadModel({
        model: "Qwen/Qwen3-0.6B",
        source,
        out,
        endpoint: hub.url,
        retry: NO_WAIT,
        env: () => undefined,
      });
      assert.equal(dir, join(out, "Qwen", "Qwen3-0___6B"));
      assert.deepEqual(await listDir(dir), [".hub_source.json", ...files.keys()].sort());
      const checkpoint = await readCheckpoint(dirModelSource(dir));
      assert.deepEqual([checkpoint.config.family, checkpoint.config.headDim], ["qwen3", 32]);
    } finally {
      await hub.close();
      await Deno.remove(out, { recursive: true });
    }
  }
});
