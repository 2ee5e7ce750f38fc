import assert from "node:assert/strict";
import { fixtureConfig } from "../fixtures/fixture_model.ts";
import { parseModelConfig } from "../model/config.ts";
import { loraKey } from "../model/names.ts";
import { memoryModelSource } from "../format/model_source.ts";
import { f32Entry, parseSafetensors, serializeSafetensors } from "../format/safetensors.ts";
import { loraScaleOf, resolveLoraConfig } from "./lora_config.ts";
import { loraTensorShapes } from "./lora_weights.ts";
import { randomAdapter } from "../../tests/_lora_fixture.ts";
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  readPeftAdapter,
  serializePeftAdapter,
} from "./peft_files.ts";

const model = parseModelConfig(fixtureConfig()); // D 64, I 160, H 4 × 16, KV 2, L 2
const lora = resolveLoraConfig({ r: 4, alpha: 8, targetModules: "all-linear" });

const adapter = randomAdapter(model, lora, 1);
const files = serializePeftAdapter(adapter, model, "fixture/tiny");
const source = (changed: Map<string, Uint8Array> = files) => memoryModelSource("adapter", changed);
const withFile = (name: string, bytes: Uint8Array) => new Map([...files, [name, bytes]]);
const configJson = JSON.parse(new TextDecoder().decode(files.get(ADAPTER_CONFIG)));
const withConfig = (change: Record<string, unknown>) =>
  withFile(ADAPTER_CONFIG, new TextEncoder().encode(JSON.stringify({ ...configJson, ...change })));

Deno.test("save → load gives the same config and bit-identical tensors", async () => {
  const loaded = await readPeftAdapter(source(), model);
  assert.deepEqual(loaded.config, adapter.config);
  assert.deepEqual([...loaded.tensors.keys()], [...adapter.tensors.keys()]);
  for (const [key, values] of adapter.tensors) {
    assert.deepEqual(loaded.tensors.get(key), values, key);
  }
});

Deno.test("adapter_model.safetensors has PEFT's metadata, key names, shapes and f32 data", () => {
  const file = parseSafetensors(files.get(ADAPTER_WEIGHTS)!, ADAPTER_WEIGHTS);
  assert.deepEqual(file.metadata, { format: "pt" });
  assert.equal(file.tensors.size, 2 * 7 * 2);
  const q = file.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!;
  assert.deepEqual(q.shape, [4, 64]); // A (r, in)
  const k = file.tensors.get("base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight")!;
  assert.deepEqual(k.shape, [32, 4]); // B (out, r): KV·HD = 2·16
  const down = file.tensors.get("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight")!;
  assert.deepEqual(down.shape, [4, 160]);
  for (const entry of file.tensors.values()) assert.equal(entry.dtype, "F32");
  assert.equal(configJson.peft_type, "LORA");
  assert.equal(configJson.base_model_name_or_path, "fixture/tiny");
  assert.match(
    new TextDecoder().decode(files.get("README.md")),
    /^---\nbase_model: fixture\/tiny\nlibrary_name: peft\n/,
  );
});

Deno.test("BF16 adapter weights are widened to f32", async () => {
  const entries = [...loraTensorShapes(model, lora)].map(([key, shape]) =>
    f32Entry(key, shape, adapter.tensors.get(key)!, "BF16")
  );
  const loaded = await readPeftAdapter(
    source(withFile(ADAPTER_WEIGHTS, serializeSafetensors(entries))),
    model,
  );
  const key = loraKey(0, "v_proj", "B");
  const want = adapter.tensors.get(key)!;
  loaded.tensors.get(key)!.forEach((v, i) =>
    assert.ok(Math.abs(v - want[i]) <= 2 ** -8 * Math.abs(want[i]))
  );
});

Deno.test("a corrupt adapter safetensors file gives a clear error naming it", async () => {
  const bytes = files.get(ADAPTER_WEIGHTS)!;
  await assert.rejects(
    readPeftAdapter(source(withFile(ADAPTER_WEIGHTS, bytes.subarray(0, bytes.length - 10))), model),
    /Data offsets \[\d+, \d+\] of tensor ".*" in "adapter\/adapter_model.safetensors" are out of range/,
  );
  await assert.rejects(
    readPeftAdapter(source(withFile(ADAPTER_WEIGHTS, new Uint8Array([1, 2, 3]))), model),
    /Truncated safetensors file "adapter\/adapter_model.safetensors": 3 bytes/,
  );
  const garbage = new Uint8Array(64);
  new DataView(garbage.buffer).setBigUint64(0, 40n, true);
  await assert.rejects(
    readPeftAdapter(source(withFile(ADAPTER_WEIGHTS, garbage)), model),
    /Invalid safetensors header JSON in "adapter\/adapter_model.safetensors"/,
  );
});

Deno.test("an adapter made for another model lists every mis-shaped tensor in one error", async () => {
  const wider = parseModelConfig(fixtureConfig({ overrides: { hidden_size: 128 } }));
  await assert.rejects(readPeftAdapter(source(), wider), (e: Error) => {
    assert.match(e.message, /^Adapter "adapter" does not fit the model \(\d+ problems\):/);
    assert.match(
      e.message,
      /layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[4, 64\], expected \[4, 128\]/,
    );
    assert.match(
      e.message,
      /layers\.1\.mlp\.down_proj\.lora_B\.weight has shape \[64, 4\], expected \[128, 4\]/,
    );
    // Every A reading D and every B writing D differs: 7 tensors in each of the 2 layers.
    assert.equal(e.message.split("\n").length - 1, 2 * 7);
    return true;
  });
  const deeper = parseModelConfig(fixtureConfig({ overrides: { num_hidden_layers: 3 } }));
  await assert.rejects(
    readPeftAdapter(source(), deeper),
    /\(14 problems\):\n {2}missing .*layers\.2\./,
  );
});

Deno.test("missing and unexpected adapter keys are all reported", async () => {
  const entries = [...loraTensorShapes(model, lora)]
    .filter(([key]) => key !== loraKey(0, "q_proj", "A") && key !== loraKey(1, "up_proj", "B"))
    .map(([key, shape]) => f32Entry(key, shape, adapter.tensors.get(key)!));
  entries.push(f32Entry("base_model.model.lm_head.lora_A.weight", [4, 64], new Float32Array(256)));
  await assert.rejects(
    readPeftAdapter(source(withFile(ADAPTER_WEIGHTS, serializeSafetensors(entries))), model),
    (e: Error) => {
      assert.match(e.message, /\(3 problems\)/);
      assert.match(
        e.message,
        /missing base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight \[4, 64\]/,
      );
      assert.match(
        e.message,
        /missing base_model\.model\.model\.layers\.1\.mlp\.up_proj\.lora_B\.weight \[160, 4\]/,
      );
      assert.match(e.message, /unexpected base_model\.model\.lm_head\.lora_A\.weight/);
      return true;
    },
  );
});

Deno.test("an adapter config whose rank differs from its tensors is caught by the shape check", async () => {
  await assert.rejects(
    readPeftAdapter(source(withConfig({ r: 8 })), model),
    /has shape \[4, 64\], expected \[8, 64\]/,
  );
});

Deno.test("unsupported adapter configs are refused by name before the weights are read", async () => {
  await assert.rejects(
    readPeftAdapter(source(withConfig({ use_dora: true, bias: "lora_only" })), model),
    /^Error: Unsupported adapter in adapter_config.json of "adapter": use_dora true; bias "lora_only"$/,
  );
  const missing = new Map(files);
  missing.delete(ADAPTER_CONFIG);
  await assert.rejects(
    readPeftAdapter(source(missing), model),
    /File "adapter_config.json" not found in "adapter"/,
  );
  await assert.rejects(
    readPeftAdapter(source(withFile(ADAPTER_CONFIG, new TextEncoder().encode("{r: 4"))), model),
    /Invalid JSON in "adapter_config.json" of "adapter"/,
  );
});

Deno.test("an rsLoRA adapter (r 16, alpha 32) saves and loads back at scale alpha/√r = 8", async () => {
  const r = 16, alpha = 32;
  const rsLora = resolveLoraConfig({
    r,
    alpha,
    targetModules: ["q_proj", "v_proj"],
    useRslora: true,
  });
  const saved = serializePeftAdapter(randomAdapter(model, rsLora, 3), model, "fixture/tiny");
  const json = JSON.parse(new TextDecoder().decode(saved.get(ADAPTER_CONFIG)));
  assert.equal(json.use_rslora, true);
  const loaded = await readPeftAdapter(memoryModelSource("rslora", saved), model);
  assert.equal(loraScaleOf(loaded.config), alpha / Math.sqrt(r)); // 8, not alpha/r = 2
  assert.deepEqual(loaded.config, rsLora);

  // The same weights under an adapter_config.json written by hand, as PEFT saves one.
  const handWritten = `{
  "peft_type": "LORA",
  "task_type": "CAUSAL_LM",
  "base_model_name_or_path": "fixture/tiny",
  "r": 16,
  "lora_alpha": 32,
  "lora_dropout": 0.05,
  "target_modules": ["v_proj", "q_proj"],
  "bias": "none",
  "use_rslora": true,
  "use_dora": false,
  "fan_in_fan_out": false,
  "inference_mode": true
}`;
  const files = new Map([...saved, [ADAPTER_CONFIG, new TextEncoder().encode(handWritten)]]);
  const read = await readPeftAdapter(memoryModelSource("hand", files), model);
  assert.equal(loraScaleOf(read.config), 8); // 32/√16
  const plain = handWritten.replace(`"use_rslora": true`, `"use_rslora": false`);
  files.set(ADAPTER_CONFIG, new TextEncoder().encode(plain));
  assert.equal(
    loraScaleOf((await readPeftAdapter(memoryModelSource("plain", files), model)).config),
    2, // 32/16
  );
});

Deno.test("a Hub-style adapter on some layers (regex target_modules) is read with those layers", async () => {
  const subset = resolveLoraConfig({ r: 4, alpha: 8, targetModules: ["v_proj"], layers: [1] });
  const saved = serializePeftAdapter(randomAdapter(model, subset, 5), model, "fixture/tiny");
  assert.deepEqual([...parseSafetensors(saved.get(ADAPTER_WEIGHTS)!, "x").tensors.keys()], [
    loraKey(1, "v_proj", "A"),
    loraKey(1, "v_proj", "B"),
  ]);
  assert.deepEqual(
    (await readPeftAdapter(memoryModelSource("saved", saved), model)).config,
    subset,
  );

  const handWritten = {
    peft_type: "LORA",
    r: 4,
    lora_alpha: 8,
    target_modules: "model\\.layers\\.1\\.self_attn\\.v_proj",
  };
  const hub = new Map([...saved, [
    ADAPTER_CONFIG,
    new TextEncoder().encode(JSON.stringify(handWritten)),
  ]]);
  assert.deepEqual((await readPeftAdapter(memoryModelSource("hub", hub), model)).config.layers, [
    1,
  ]);
  // A config that targets layer 0 too, with tensors for layer 1 only: layer 0's are missing.
  hub.set(
    ADAPTER_CONFIG,
    new TextEncoder().encode(JSON.stringify({ ...handWritten, target_modules: ["v_proj"] })),
  );
  await assert.rejects(
    readPeftAdapter(memoryModelSource("hub", hub), model),
    /missing base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_A\.weight/,
  );
});

Deno.test("an adapter with only adapter_model.bin is refused as a .bin adapter", async () => {
  const pickled = new Map(files);
  pickled.delete(ADAPTER_WEIGHTS);
  pickled.set("adapter_model.bin", new Uint8Array([0x80, 2]));
  await assert.rejects(
    readPeftAdapter(memoryModelSource("old", pickled), model),
    /has only adapter_model\.bin: \.bin adapters are not supported/,
  );
});
