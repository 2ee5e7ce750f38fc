/**
 * `server/main.ts` as a process: flags, /health, auth, adapters from `--adapter`, clean exit
 * on SIGTERM, and (on WebGPU) a job interrupted by a crash found failed after the restart,
 * naming its last checkpoint.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "./_gpu.ts";
import { fixtureFolders, healthy, MAIN, start } from "./_server_process.ts";

Deno.test("main.ts: serves a model folder with --adapter and --api-key, exits cleanly on SIGTERM", async () => {
  const { root, modelDir, adapterDir } = await fixtureFolders();
  const server = await start([
    "--model",
    modelDir,
    "--backend",
    "cpu",
    "--adapter",
    `mine=${adapterDir}`,
    "--adapters-dir",
    join(root, "adapters"),
    "--api-key",
    "k-main",
  ]);
  try {
    const health = await healthy(server.url);
    assert.deepEqual([health.model, health.backend], ["tiny-model", "cpu"]);
    const auth = { authorization: "Bearer k-main" };
    const models = await (await fetch(`${server.url}/v1/models`, { headers: auth })).json();
    assert.deepEqual(
      models.data.map((m: { id: string; parent: string | null }) => [m.id, m.parent]),
      [
        ["tiny-model", null],
        ["mine", "tiny-model"],
      ],
    );
    const completion = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ model: "mine", prompt: "Hi", max_tokens: 3, temperature: 0 }),
    });
    assert.equal((await completion.json()).usage.completion_tokens, 3);
    // Through the slow-client relay, the server's own pages are same-origin; another site is not.
    const fromOrigin = (origin: string) =>
      fetch(`${server.url}/v1/models`, { headers: { ...auth, origin } });
    const same = await fromOrigin(server.url);
    assert.equal(same.status, 200);
    await same.body?.cancel();
    const other = await fromOrigin("http://evil.example");
    assert.equal(other.status, 403);
    await other.body?.cancel();
    const denied = await fetch(`${server.url}/v1/models`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
  } finally {
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
  }
});

Deno.test("main.ts: bad flags, a busy port and a missing model exit with a clear message", async () => {
  const { modelDir } = await fixtureFolders();
  const busy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(),
  );
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const cases: [string[], number, RegExp][] = [
    [[], 2, /Missing --model DIR/],
    [
      ["--model", modelDir, "--port", "http"],
      2,
      /--port must be an integer from 0 to 65535, got "http"/,
    ],
    [
      ["--model", modelDir, "--port", "99999"],
      2,
      /--port must be an integer from 0 to 65535, got "99999"/,
    ],
    [
      ["--model", modelDir, "--backend", "cpu", "--port", String(busy.addr.port)],
      1,
      /^Cannot listen on 127\.0\.0\.1:\d+: the port is in use/,
    ],
    [["--model", modelDir, "--adapter", "nodir"], 2, /--adapter must be NAME=DIR, got "nodir"/],
    [["--model", modelDir, "--lora-modules", "x"], 2, /--lora-modules must be NAME=DIR, got "x"/],
    [["--model", modelDir, "--max-batch", "0"], 2, /--max-batch must be an integer ≥ 1, got "0"/],
    [["--model", modelDir, "--max-lora-rank", "r"], 2, /--max-lora-rank must be an integer ≥ 1/],
    [["--model", modelDir, "--backend", "tpu"], 2, /--backend must be auto, webgpu or cpu/],
    [["--model", modelDir, "--kv-cache", "f8"], 2, /--kv-cache must be f32 or f16, got "f8"/],
    [["--model", modelDir, "--bogus"], 2, /Unknown option '--bogus'/],
    [["--model", modelDir, "--role", "replica"], 2, /--role needs --nats/],
    [
      ["--model", modelDir, "--nats", "nats://127.0.0.1:1", "--role", "boss"],
      2,
      /--role must be replica, worker or all, got "boss"/,
    ],
    [
      ["--model", modelDir, "--nats", "nats://127.0.0.1:1", "--nats-replicas", "0"],
      2,
      /--nats-replicas must be an integer from 1 to 5, got "0"/,
    ],
    [
      ["--model", modelDir, "--nats", "nats://127.0.0.1:1", "--backend", "cpu"],
      1,
      /^Cannot join the cluster at nats:\/\/127\.0\.0\.1:1: /,
    ],
    [
      ["--model", join(modelDir, "missing"), "--backend", "cpu", "--port", "0"],
      1,
      /Loading failed: .*config\.json/,
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => run(args)));
  await busy.shutdown();
  const help = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", MAIN, "-h"] })
    .output();
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /Usage: deno task serve --model DIR/);
  results.forEach(({ code, stderr }, i) => {
    assert.equal(code, cases[i][1], stderr);
    assert.match(stderr, cases[i][2]);
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  });
  // An empty key would otherwise be read as "no authentication".
  const emptyFlag = await run(["--model", modelDir, "--api-key", ""]);
  assert.equal(emptyFlag.code, 2, emptyFlag.stderr);
  assert.match(emptyFlag.stderr, /The API key is empty.*\(from --api-key\)/);
  const emptyEnv = await run(["--model", modelDir], { WEBGPU_LORA_API_KEY: "" });
  assert.equal(emptyEnv.code, 2, emptyEnv.stderr);
  assert.match(emptyEnv.stderr, /The API key is empty.*\(from WEBGPU_LORA_API_KEY\)/);
  const badOrigin = await run(["--model", modelDir, "--cors-origin", "app.example"]);
  assert.equal(badOrigin.code, 2, badOrigin.stderr);
  assert.match(badOrigin.stderr, /Invalid CORS origin "app\.example"/);
});

gpuTest(
  "main.ts: after a crash mid-job, the restarted server marks the job failed at its last checkpoint",
  async () => {
    const { root, modelDir } = await fixtureFolders();
    const adaptersDir = join(root, "adapters");
    const args = [
      "--model",
      modelDir,
      "--backend",
      "webgpu",
      "--adapters-dir",
      adaptersDir,
      "--checkpoint-every",
      "1",
    ];
    const first = await start(args);
    let jobId: string, checkpoint: string;
    try {
      await healthy(first.url);
      const job = await (await fetch(`${first.url}/v1/fine_tuning/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "tiny-model",
          training_data: [{ instruction: "Q?", output: "A." }, { instruction: "R?", output: "B." }],
          hyperparameters: { max_steps: 10_000, gradient_accumulation_steps: 1, lora_r: 2 },
        }),
      })).json();
      jobId = job.id;
      while (true) {
        const now = await (await fetch(`${first.url}/v1/fine_tuning/jobs/${jobId}`)).json();
        if (now.last_checkpoint) {
          checkpoint = now.last_checkpoint;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await first.stop("SIGKILL"); // a crash: no chance to mark anything
    }
    const second = await start(args);
    try {
      await healthy(second.url);
      const job = await (await fetch(`${second.url}/v1/fine_tuning/jobs/${jobId}`)).json();
      assert.equal(job.status, "failed");
      assert.equal(job.error.code, "interrupted");
      assert.match(
        job.error.message,
        /^Interrupted by a server restart; last checkpoint \.jobs\/ftjob-/,
      );
      assert.ok(job.last_checkpoint);
      // The named checkpoint (the newest written before the crash) is on disk and complete.
      assert.ok(job.error.message.endsWith(job.last_checkpoint));
      assert.ok(
        Number(/checkpoint-(\d+)$/.exec(job.last_checkpoint)![1]) >=
          Number(/checkpoint-(\d+)$/.exec(checkpoint)![1]),
      );
      assert.ok(
        (await Deno.stat(join(adaptersDir, job.last_checkpoint, "trainer_state.json"))).isFile,
      );
    } finally {
      const { code, stderr } = await second.stop();
      assert.equal(code, 0, stderr);
    }
  },
);
