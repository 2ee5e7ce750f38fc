import assert from "node:assert/strict";
import { goldenPath } from "../../tests/_golden.ts";
import { readCheckpoint } from "./checkpoint.ts";
import { createFixtureModel } from "../fixtures/fixture_model.ts";
import { dirModelSource } from "./fs_model_source.ts";
import { memoryModelSource } from "./model_source.ts";
import {
  f32Entry,
  parseSafetensors,
  type SafetensorsEntry,
  serializeSafetensors,
} from "./safetensors.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A fixture's files with model.safetensors rewritten by `edit`. */
function editedWeights(
  files: Map<string, Uint8Array>,
  edit: (entries: SafetensorsEntry[]) => SafetensorsEntry[],
): Map<string, Uint8Array> {
  const entries = [...parseSafetensors(files.get("model.safetensors")!, "m").tensors.values()];
  return new Map(files).set("model.safetensors", serializeSafetensors(edit(entries)));
}

Deno.test("readCheckpoint reads a single-file fixture", async () => {
  const checkpoint = await readCheckpoint(memoryModelSource("mem", createFixtureModel()));
  assert.equal(checkpoint.config.hiddenSize, 64);
  assert.deepEqual(checkpoint.files, ["config.json", "model.safetensors"]);
  assert.equal(checkpoint.tensors.size, 2 + 2 * 9);
  assert.deepEqual(checkpoint.tensors.get("model.layers.1.mlp.down_proj.weight")?.shape, [64, 160]);
  assert.ok(!checkpoint.tensors.has("lm_head.weight"));
});

Deno.test("readCheckpoint reads sharded fixtures, each shard once, same tensors", async () => {
  const single = await readCheckpoint(memoryModelSource("one", createFixtureModel()));
  const files = createFixtureModel({ shardBytes: 60_000 });
  const reads: string[] = [];
  const inner = memoryModelSource("shards", files);
  const counting = {
    name: inner.name,
    has: inner.has,
    read(path: string) {
      reads.push(path);
      return inner.read(path);
    },
  };
  const sharded = await readCheckpoint(counting);
  const shardNames = [...files.keys()].filter((f) => f.startsWith("model-")).sort();
  assert.ok(shardNames.length >= 3, `only ${shardNames.length} shards`);
  assert.deepEqual(sharded.files, ["config.json", "model.safetensors.index.json", ...shardNames]);
  assert.deepEqual(reads, sharded.files, "every file read exactly once");
  assert.deepEqual([...sharded.tensors.keys()].sort(), [...single.tensors.keys()].sort());
  for (const [name, entry] of single.tensors) {
    assert.deepEqual(sharded.tensors.get(name)!.bytes, entry.bytes, name);
  }
});

Deno.test("readCheckpoint reads the golden PyTorch checkpoint from a folder", async () => {
  const checkpoint = await readCheckpoint(dirModelSource(goldenPath("tiny-bf16")));
  assert.equal(checkpoint.config.torchDtype, "BF16");
  assert.equal(checkpoint.tensors.get("model.embed_tokens.weight")?.dtype, "BF16");
});

Deno.test("missing and mis-shaped tensors are reported together", async () => {
  const files = editedWeights(createFixtureModel(), (entries) =>
    entries
      .filter((e) =>
        e.name !== "model.norm.weight" && e.name !== "model.layers.1.mlp.up_proj.weight"
      )
      .map((e) =>
        e.name === "model.layers.0.self_attn.k_proj.weight"
          ? f32Entry(e.name, [16, 64], new Float32Array(16 * 64))
          : e
      )
      .concat(f32Entry("model.layers.0.self_attn.rotary_emb.inv_freq", [8], new Float32Array(8))));
  const error = await readCheckpoint(memoryModelSource("mem", files)).catch((e) => e);
  assert.ok(error instanceof Error);
  assert.equal(
    error.message,
    'Checkpoint "mem" does not match its config.json (3 problems):\n' +
      "  model.layers.0.self_attn.k_proj.weight has shape [16, 64], expected [32, 64]\n" +
      "  missing model.layers.1.mlp.up_proj.weight [160, 64]\n" +
      "  missing model.norm.weight [64]",
  );
});

Deno.test("an untied model needs lm_head; extra tensors are ignored", async () => {
  const untied = createFixtureModel({ overrides: { tie_word_embeddings: false } });
  const checkpoint = await readCheckpoint(memoryModelSource("untied", untied));
  assert.deepEqual(checkpoint.tensors.get("lm_head.weight")?.shape, [512, 64]);
  const withoutHead = editedWeights(
    untied,
    (entries) => entries.filter((e) => e.name !== "lm_head.weight"),
  );
  await assert.rejects(
    readCheckpoint(memoryModelSource("untied", withoutHead)),
    /\(1 problem\):\n {2}missing lm_head.weight \[512, 64\]$/,
  );
});

Deno.test("a missing shard is named, as are tensors missing from their shard", async () => {
  const files = createFixtureModel({ shardBytes: 60_000 });
  const lastShard = [...files.keys()].filter((f) => f.startsWith("model-")).sort().at(-1)!;
  const withoutShard = new Map(files);
  withoutShard.delete(lastShard);
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", withoutShard)),
    new RegExp(
      `^Error: Shard "${lastShard}" named in model.safetensors.index.json missing from "mem"$`,
    ),
  );

  const index = JSON.parse(new TextDecoder().decode(files.get("model.safetensors.index.json")));
  const firstShard = index.weight_map["model.embed_tokens.weight"];
  index.weight_map["model.norm.weight"] = firstShard; // it lives in a later shard
  index.weight_map["model.extra.weight"] = firstShard;
  const badIndex = new Map(files).set("model.safetensors.index.json", encode(index));
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", badIndex)),
    new RegExp(
      `^Error: Tensors named in model.safetensors.index.json of "mem" are missing from their ` +
        `shards: model.norm.weight \\(listed in ${firstShard}\\), model.extra.weight \\(listed in ${firstShard}\\)$`,
    ),
  );

  const noMap = new Map(files).set("model.safetensors.index.json", encode({ metadata: {} }));
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", noMap)),
    /Invalid model.safetensors.index.json in "mem": weight_map must map tensor names to files/,
  );
});

Deno.test("config and weight-file errors name the source", async () => {
  const files = createFixtureModel();
  const config = JSON.parse(new TextDecoder().decode(files.get("config.json")));
  const qwen = new Map(files).set(
    "config.json",
    encode({ ...config, architectures: ["Qwen3MoeForCausalLM"] }),
  );
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", qwen)),
    /^Error: Unsupported architecture "Qwen3MoeForCausalLM": only .* are supported \(mixture-of-experts models are not\) \(in config.json of "mem"\)$/,
  );
  const noWeights = new Map(files);
  noWeights.delete("model.safetensors");
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", noWeights)),
    /^Error: No weights in "mem": expected model.safetensors or model.safetensors.index.json$/,
  );
  const truncated = new Map(files).set(
    "model.safetensors",
    files.get("model.safetensors")!.subarray(0, 1000),
  );
  await assert.rejects(
    readCheckpoint(memoryModelSource("mem", truncated)),
    /Safetensors header length \d+ in "mem\/model.safetensors" exceeds the file size 1000/,
  );
  await assert.rejects(
    readCheckpoint(memoryModelSource("empty", new Map())),
    /^ModelFileNotFoundError: File "config.json" not found in "empty"$/,
  );
});
