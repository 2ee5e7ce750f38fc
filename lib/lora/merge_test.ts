import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { type Checkpoint, readCheckpoint } from "../format/checkpoint.ts";
import { createFixtureModel } from "../fixtures/fixture_model.ts";
import { loraKey, projectionWeightName } from "../model/names.ts";
import { memoryModelSource } from "../format/model_source.ts";
import { entryToF32, parseSafetensors } from "../format/safetensors.ts";
import { resolveLoraConfig } from "./lora_config.ts";
import { randomAdapter } from "../../tests/_lora_fixture.ts";
import type { LoraWeights } from "./lora_weights.ts";
import { mergeAdapter, mergedFileBytes, mergedModelFiles, mergedWeightFiles } from "./merge.ts";
import { dtypeBytes } from "../format/dtype.ts";
import { shapeSize } from "../format/safetensors.ts";

/** An adapter on q, v and down with non-zero B, so that merging changes those weights. */
function adapterFor(checkpoint: Checkpoint, useRslora: boolean): LoraWeights {
  const targetModules = ["q_proj", "v_proj", "down_proj"];
  return randomAdapter(
    checkpoint.config,
    resolveLoraConfig({ r: 4, alpha: 8, targetModules, useRslora }),
    3,
  );
}

for (const dtype of ["F32", "BF16"] as const) {
  Deno.test(`merged ${dtype} weights equal W + s·B·A, in the base dtype, others untouched`, async () => {
    const files = createFixtureModel({ dtype, seed: 9 });
    const checkpoint = await readCheckpoint(memoryModelSource("fixture", files));
    for (const useRslora of [false, true]) {
      const adapter = adapterFor(checkpoint, useRslora);
      const s = useRslora ? 8 / 2 : 8 / 4;
      const merged = mergeAdapter(checkpoint, adapter);
      assert.deepEqual([...merged.keys()], [...checkpoint.tensors.keys()]);
      for (const [name, entry] of checkpoint.tensors) {
        if (!/q_proj|v_proj|down_proj/.test(name)) assert.equal(merged.get(name), entry, name);
      }
      for (let l = 0; l < checkpoint.config.numLayers; l++) {
        for (const p of adapter.config.targetModules) {
          const name = projectionWeightName(l, p);
          const base = checkpoint.tensors.get(name)!;
          const out = merged.get(name)!;
          assert.equal(out.dtype, base.dtype);
          assert.deepEqual(out.shape, base.shape);
          const [rows, cols] = base.shape, R = 4;
          const a = adapter.tensors.get(loraKey(l, p, "A"))!,
            b = adapter.tensors.get(loraKey(l, p, "B"))!;
          const w = entryToF32(base);
          const want = new Float64Array(rows * cols);
          for (let o = 0; o < rows; o++) {
            for (let i = 0; i < cols; i++) {
              let ba = 0;
              for (let r = 0; r < R; r++) ba += b[o * R + r] * a[r * cols + i];
              want[o * cols + i] = w[o * cols + i] + s * ba;
            }
          }
          // f32: summation order only; bf16: one rounding of the merged value (8 bits).
          const tol = dtype === "F32" ? { atol: 1e-6, rtol: 1e-6 } : { atol: 1e-6, rtol: 2 ** -8 };
          assertClose(entryToF32(out), want, { ...tol, label: `${name} rslora ${useRslora}` });
        }
      }
    }
  });
}

Deno.test("mergedModelFiles: config, model.safetensors with format pt, tokenizer and generation files", async () => {
  const files = createFixtureModel({ dtype: "BF16" });
  files.set("chat_template.jinja", new TextEncoder().encode("{{ messages }}"));
  const source = memoryModelSource("fixture", files);
  const checkpoint = await readCheckpoint(source);
  const out = await mergedModelFiles(checkpoint, adapterFor(checkpoint, false), source);
  assert.deepEqual(
    [...out.keys()].sort(),
    [
      "chat_template.jinja",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ],
  );
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(out.get("config.json"))),
    checkpoint.config.raw,
  );
  assert.equal(out.get("tokenizer.json"), files.get("tokenizer.json"));
  const weights = parseSafetensors(out.get("model.safetensors")!, "merged");
  assert.deepEqual(weights.metadata, { format: "pt" });
  assert.deepEqual([...weights.tensors.keys()].sort(), [...checkpoint.tensors.keys()].sort());
  for (const entry of weights.tensors.values()) assert.equal(entry.dtype, "BF16", entry.name);
  const merged = await readCheckpoint(memoryModelSource("merged", out)); // loads back
  assert.deepEqual(merged.config, checkpoint.config);
});

Deno.test("an adapter on a layer subset merges into those layers only", async () => {
  const checkpoint = await readCheckpoint(memoryModelSource("fixture", createFixtureModel()));
  const lora = resolveLoraConfig({ r: 4, alpha: 8, targetModules: ["q_proj"], layers: [1] });
  const merged = mergeAdapter(checkpoint, randomAdapter(checkpoint.config, lora, 4));
  const name = (l: number) => projectionWeightName(l, "q_proj");
  assert.equal(merged.get(name(0)), checkpoint.tensors.get(name(0)));
  assert.notDeepEqual(
    entryToF32(merged.get(name(1))!),
    entryToF32(checkpoint.tensors.get(name(1))!),
  );
});

Deno.test("mergedWeightFiles shards by size with transformers' names and index, same tensors as unsharded", async () => {
  const files = createFixtureModel({ dtype: "BF16", seed: 3 });
  const source = memoryModelSource("fixture", files);
  const checkpoint = await readCheckpoint(source);
  const adapter = adapterFor(checkpoint, false);
  const sizes = [...checkpoint.tensors.values()].map((e) =>
    shapeSize(e.shape) * dtypeBytes(e.dtype)
  );
  const limit = Math.max(...sizes); // every shard holds at most this many tensor bytes
  const shards = mergedWeightFiles(checkpoint, adapter, limit).map((f) => ({
    path: f.path,
    bytes: mergedFileBytes(f),
  }));
  const n = shards.length - 1;
  assert.ok(n > 2, `${n} shards`);
  assert.deepEqual(
    shards.map((f) => f.path),
    [
      ...Array.from({ length: n }, (_, i) => `model-0000${i + 1}-of-0000${n}.safetensors`),
      "model.safetensors.index.json",
    ],
  );
  const index = JSON.parse(new TextDecoder().decode(shards.at(-1)!.bytes));
  assert.equal(index.metadata.total_size, sizes.reduce((a, b) => a + b, 0));
  for (const shard of shards.slice(0, -1)) {
    const tensors = parseSafetensors(shard.bytes, shard.path).tensors;
    const bytes = [...tensors.values()].reduce((sum, e) => sum + e.bytes.length, 0);
    assert.ok(bytes <= limit, `${shard.path}: ${bytes} > ${limit}`);
    for (const name of tensors.keys()) assert.equal(index.weight_map[name], shard.path);
  }
  // Loaded back through the index, the tensors equal the unsharded merge bit for bit.
  const sharded = new Map([...files].filter(([k]) => k !== "model.safetensors"));
  for (const { path, bytes } of shards) sharded.set(path, bytes);
  const reread = await readCheckpoint(memoryModelSource("sharded", sharded));
  const whole = mergeAdapter(checkpoint, adapter);
  assert.deepEqual([...reread.tensors.keys()].sort(), [...whole.keys()].sort());
  for (const [name, entry] of whole) {
    assert.deepEqual(reread.tensors.get(name)!.bytes, entry.bytes, name);
  }
});
