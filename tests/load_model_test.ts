/**
 * loadModel end to end on fixture models written by the project: the WebGPU model against the
 * TypeScript reference (bf16 and f32, tied and untied LM head), the CPU backend, sharded
 * checkpoints, generation and streaming, and clear errors for bad input.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { writeModelFiles } from "../lib/format/fs_model_source.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { referenceLogits } from "../lib/reference/model.ts";
import { entryToF32, parseSafetensors } from "../lib/format/safetensors.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";

const IDS = [1, 300, 17, 42, 99, 5, 260, 7, 64];

function referenceFor(files: Map<string, Uint8Array>, ids: number[]): Float32Array {
  const config = parseModelConfig(JSON.parse(new TextDecoder().decode(files.get("config.json"))));
  const tensors = parseSafetensors(files.get("model.safetensors")!, "model.safetensors").tensors;
  const weights = new Map([...tensors].map(([name, entry]) => [name, entryToF32(entry)]));
  return referenceLogits(config, weights, ids);
}

for (const dtype of ["BF16", "F32"] as const) {
  for (const tied of [true, false]) {
    gpuTest(
      `GPU logits of a ${dtype} ${tied ? "tied" : "untied"} fixture match the TypeScript reference`,
      async (gpu) => {
        const files = createFixtureModel({
          dtype,
          seed: 3,
          embeddingStd: 0.1,
          overrides: { tie_word_embeddings: tied },
        });
        const model = await loadModel(memoryModelSource("fixture", files), {
          backend: "webgpu",
          gpu,
        });
        const want = referenceFor(files, IDS);
        assertClose(await model.forward(IDS), want, {
          atol: 1e-4 * maxAbs(want),
          rtol: 0,
          label: "logits",
        });
        model.dispose();
      },
    );
  }
}

gpuTest("the CPU backend and the GPU generate the same greedy tokens", async (gpu) => {
  const files = createFixtureModel({ seed: 5, embeddingStd: 0.1 });
  const source = memoryModelSource("fixture", files);
  const logged: string[] = [];
  const log = (line: string) => logged.push(line);
  const gpuModel = await loadModel(source, { backend: "webgpu", gpu, log });
  const cpuModel = await loadModel(source, { backend: "cpu", log });
  const { small, large } = gpu.kernels.matmul;
  assert.equal(logged.length, 1, "one line, from the WebGPU load");
  assert.match(
    logged[0],
    new RegExp(`^Kernels on .+: decode ${small}, prefill and training ${large}`),
  );
  assert.equal(gpuModel.backend, "webgpu");
  assert.equal(cpuModel.backend, "cpu");
  const options = { maxTokens: 10, temperature: 0 };
  const a = await gpuModel.generate("The capital of France", options);
  const b = await cpuModel.generate("The capital of France", options);
  assert.deepEqual(a.tokens, b.tokens);
  assert.equal(a.completionTokens, a.tokens.length);
  gpuModel.dispose();
});

gpuTest(
  "streamed deltas add up to the generated text, and a seed reproduces sampling",
  async (gpu) => {
    const model = await loadModel(
      memoryModelSource("fixture", createFixtureModel({ seed: 9, embeddingStd: 0.1 })),
      { gpu },
    );
    const options = { maxTokens: 12, temperature: 0.9, topP: 0.95, topK: 50, seed: 11 };
    const whole = await model.generate("你好，世界", options);
    let streamed = "";
    for await (const delta of model.stream("你好，世界", options)) streamed += delta;
    assert.equal(streamed, whole.text);
    assert.equal((await model.generate("你好，世界", options)).text, whole.text);
    model.dispose();
  },
);

gpuTest("a sharded checkpoint in a folder loads and equals the single-file one", async (gpu) => {
  const dir = await Deno.makeTempDir();
  try {
    const single = createFixtureModel({ seed: 2 });
    await writeModelFiles(dir, createFixtureModel({ seed: 2, shardBytes: 40_000 }));
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assert.ok(names.includes("model.safetensors.index.json"));
    assert.ok(names.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n)).length > 1);
    const a = await loadModel(dir, { gpu });
    const b = await loadModel(memoryModelSource("single", single), { gpu });
    assertClose(await a.forward(IDS), await b.forward(IDS), { atol: 0, rtol: 0, label: "sharded" });
    a.dispose();
    b.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("bad input gives clear errors", async (gpu) => {
  const model = await loadModel(memoryModelSource("fixture", createFixtureModel()), { gpu });
  await assert.rejects(
    model.forward([1, 100_000]),
    /Token id 100000 is outside the vocabulary of 512/,
  );
  await assert.rejects(model.generate("hi", { adapter: "nope" }), /Unknown adapter "nope"/);
  model.dispose();
  await assert.rejects(
    loadModel("/nonexistent/model/dir"),
    /config\.json.*not found|not found.*config\.json/i,
  );
});
