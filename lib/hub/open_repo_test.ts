import assert from "node:assert/strict";
import { modelCacheDir } from "./cache_path.ts";
import { openRepo } from "./open_repo.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const MODEL = "LLM-Research/Llama-3.2-1B";

Deno.test("openRepo defaults to the public hubs without a token", () => {
  const ms = openRepo("modelscope", MODEL, { env: envOf({}) });
  assert.equal(
    ms.fileUrl("config.json"),
    "https://www.modelscope.cn/api/v1/models/LLM-Research/Llama-3.2-1B/repo?Revision=master&FilePath=config.json",
  );
  assert.deepEqual(ms.authHeaders, {});
  const hf = openRepo("huggingface", MODEL, { env: envOf({}) });
  assert.equal(
    hf.fileUrl("config.json"),
    "https://huggingface.co/LLM-Research/Llama-3.2-1B/resolve/main/config.json",
  );
  assert.deepEqual(hf.authHeaders, {});
});

Deno.test("openRepo reads each hub's endpoint and token variables", () => {
  const env = envOf({
    MODELSCOPE_DOMAIN: "modelscope.example",
    MODELSCOPE_API_TOKEN: "ms-token",
    HF_ENDPOINT: "https://hf-mirror.example/",
    HF_TOKEN: "hf_token",
  });
  const ms = openRepo("modelscope", MODEL, { env });
  assert.match(ms.fileUrl("a"), /^https:\/\/modelscope\.example\/api\/v1\//);
  assert.deepEqual(ms.authHeaders, { cookie: "m_session_id=ms-token" });
  assert.equal(ms.tokenEnv, "MODELSCOPE_API_TOKEN");
  const hf = openRepo("huggingface", MODEL, { env, revision: "refs/pr/1" });
  assert.equal(
    hf.fileUrl("sub dir/a.json"),
    "https://hf-mirror.example/LLM-Research/Llama-3.2-1B/resolve/refs%2Fpr%2F1/sub%20dir/a.json",
  );
  assert.deepEqual(hf.authHeaders, { authorization: "Bearer hf_token" });
  assert.equal(hf.tokenEnv, "HF_TOKEN");
});

Deno.test("openRepo lets --endpoint and an explicit token win over the environment", () => {
  const env = envOf({ MODELSCOPE_DOMAIN: "http://ms.example", MODELSCOPE_API_TOKEN: "env" });
  assert.match(openRepo("modelscope", MODEL, { env }).fileUrl("a"), /^http:\/\/ms\.example\/api/);
  const repo = openRepo("modelscope", MODEL, {
    env,
    endpoint: "http://127.0.0.1:9/",
    token: "flag",
  });
  assert.match(
    repo.fileUrl("a"),
    /^http:\/\/127\.0\.0\.1:9\/api\/v1\/models\/LLM-Research\/Llama-3\.2-1B\/repo\?/,
  );
  assert.deepEqual(repo.authHeaders, { cookie: "m_session_id=flag" });
  assert.deepEqual(
    openRepo("huggingface", MODEL, { env: envOf({ HF_TOKEN: "" }) }).authHeaders,
    {},
  );
});

Deno.test("openRepo rejects unknown hubs, malformed ids and bad endpoints", () => {
  const env = envOf({});
  const github = "github" as "modelscope"; // an unchecked string, as a command line passes it
  assert.throws(
    () => openRepo(github, MODEL, { env }),
    /Unknown hub "github": expected one of modelscope, huggingface/,
  );
  for (const id of ["Llama-3.2-1B", "a/b/c", "../x", "a/..", "a/b c"]) {
    assert.throws(() => openRepo("modelscope", id, { env }), /Model id must look like owner\/name/);
  }
  assert.throws(
    () => openRepo("huggingface", MODEL, { env, endpoint: "ftp://x" }),
    /Hub endpoint must be an http\(s\) URL, got "ftp:\/\/x"/,
  );
});

Deno.test("modelCacheDir keeps the layout of ModelScope's snapshot_download", () => {
  assert.equal(modelCacheDir("./model_cache", MODEL), "model_cache/LLM-Research/Llama-3___2-1B");
  assert.equal(
    modelCacheDir("/data", "Qwen/Qwen2.5-0.5B-Instruct"),
    "/data/Qwen/Qwen2___5-0___5B-Instruct",
  );
  assert.equal(modelCacheDir("c", "a.b/c"), "c/a.b/c");
});
