import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { GOLDEN } from "../../tests/_golden.ts";
import { f32ToBf16Bits, f32ToF16Bits } from "./dtype.ts";
import {
  allocateSafetensors,
  entryToF32,
  f32Entry,
  parseSafetensors,
  type SafetensorsEntry,
  serializeSafetensors,
} from "./safetensors.ts";

/** A file with any header object and `dataBytes` bytes of data, for corruption tests. */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

function sampleEntries(): SafetensorsEntry[] {
  const values = Float32Array.from({ length: 6 }, (_, i) => (i - 2.5) * 0.37);
  return [
    f32Entry("a.f32", [2, 3], values),
    f32Entry("b.f16", [3, 2], values, "F16"),
    f32Entry("c.bf16", [6], values, "BF16"),
    f32Entry("d.scalar", [], Float32Array.of(7)),
    f32Entry("e.empty", [0, 4], new Float32Array(0)),
  ];
}

Deno.test("serialize then parse round-trips F32, F16, BF16 and metadata", () => {
  const entries = sampleEntries();
  const bytes = serializeSafetensors(entries, { format: "pt", note: "ü" });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  assert.match(header, /^\{"__metadata__":\{"format":"pt","note":"ü"\},"a\.f32":/);
  assert.match(header, /\} *$/, "padding is spaces after the JSON");

  const parsed = parseSafetensors(bytes, "round.safetensors");
  assert.deepEqual(parsed.metadata, { format: "pt", note: "ü" });
  assert.deepEqual([...parsed.tensors.keys()], entries.map((e) => e.name));
  let offset = 8 + headerLength;
  for (const entry of entries) {
    const got = parsed.tensors.get(entry.name)!;
    assert.equal(got.dtype, entry.dtype);
    assert.deepEqual(got.shape, entry.shape);
    assert.deepEqual(got.bytes, entry.bytes);
    assert.equal(got.bytes.buffer, bytes.buffer, "entries are views, not copies");
    assert.equal(got.bytes.byteOffset, offset, "tensors are contiguous in the given order");
    offset += entry.bytes.length;
  }
  assert.equal(offset, bytes.length);

  const values = Float32Array.from({ length: 6 }, (_, i) => (i - 2.5) * 0.37);
  assert.deepEqual(entryToF32(parsed.tensors.get("a.f32")!), values);
  assertClose(entryToF32(parsed.tensors.get("b.f16")!), values, { atol: 0, rtol: 2 ** -11 });
  assertClose(entryToF32(parsed.tensors.get("c.bf16")!), values, { atol: 0, rtol: 2 ** -8 });
  assert.deepEqual(
    new Uint16Array(parsed.tensors.get("c.bf16")!.bytes.slice().buffer),
    f32ToBf16Bits(values),
  );
  assert.deepEqual(
    new Uint16Array(parsed.tensors.get("b.f16")!.bytes.slice().buffer),
    f32ToF16Bits(values),
  );
  assert.deepEqual(entryToF32(parsed.tensors.get("d.scalar")!), Float32Array.of(7));
});

Deno.test("no __metadata__ is written unless given; parse reports {}", () => {
  const bytes = serializeSafetensors([f32Entry("x", [1], Float32Array.of(1))]);
  assert.doesNotMatch(new TextDecoder().decode(bytes), /__metadata__/);
  assert.deepEqual(parseSafetensors(bytes, "m").metadata, {});
});

Deno.test("entryToF32 copies, also from unaligned views", () => {
  const entry = f32Entry("x", [3], Float32Array.of(1, 2, 3));
  const shifted = new Uint8Array(entry.bytes.length + 1);
  shifted.set(entry.bytes, 1);
  const unaligned = { ...entry, bytes: shifted.subarray(1) };
  const values = entryToF32(unaligned);
  assert.deepEqual(values, Float32Array.of(1, 2, 3));
  values[0] = 9;
  assert.deepEqual(entryToF32(unaligned), Float32Array.of(1, 2, 3));
});

Deno.test("allocateSafetensors gives writable views into the file", () => {
  const { bytes, entries } = allocateSafetensors([
    { name: "w", dtype: "F32", shape: [2] },
    { name: "__proto__", dtype: "BF16", shape: [1] },
  ]);
  new Float32Array(entries[0].bytes.buffer, entries[0].bytes.byteOffset, 2).set([1.5, -2]);
  entries[1].bytes.set([0x80, 0x3f]); // bf16 1.0
  const parsed = parseSafetensors(bytes, "alloc");
  assert.deepEqual(entryToF32(parsed.tensors.get("w")!), Float32Array.of(1.5, -2));
  assert.deepEqual(entryToF32(parsed.tensors.get("__proto__")!), Float32Array.of(1));
});

Deno.test("the writer refuses bad entries", () => {
  const entry = f32Entry("x", [2], Float32Array.of(1, 2));
  assert.throws(
    () => serializeSafetensors([entry, entry]),
    /Duplicate or reserved tensor name "x"/,
  );
  assert.throws(
    () => serializeSafetensors([{ ...entry, shape: [3] }]),
    /Tensor "x" has 8 bytes, but shape \[3\] of F32 needs 12/,
  );
  assert.throws(
    () => f32Entry("y", [2, 2], Float32Array.of(1)),
    /Tensor "y" has 1 values, but shape \[2, 2\] holds 4/,
  );
});

Deno.test("corrupt files give clear errors naming the file and tensor", () => {
  const good = serializeSafetensors(sampleEntries());
  const cases: [string, Uint8Array, RegExp][] = [
    ["too short", good.subarray(0, 5), /Truncated safetensors file "f": 5 bytes, need at least 8/],
    [
      "truncated data",
      good.subarray(0, good.length - 3),
      /Data offsets \[\d+, \d+\] of tensor "d.scalar" in "f" are out of range: the data section has \d+ bytes/,
    ],
    [
      "header length past the end",
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
        return b;
      })(),
      new RegExp(
        `Safetensors header length ${good.length} in "f" exceeds the file size ${good.length}`,
      ),
    ],
    [
      "huge header length",
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
        return b;
      })(),
      /Safetensors header length \d+ in "f" exceeds the limit 100000000/,
    ],
    [
      "bad JSON",
      (() => {
        const b = good.slice();
        b[8] = "[".charCodeAt(0);
        b[9] = "x".charCodeAt(0);
        return b;
      })(),
      /Invalid safetensors header JSON in "f": /,
    ],
    ["not an object", rawFile([1, 2], 0), /Safetensors header in "f" is not a JSON object/],
    [
      "unknown dtype",
      rawFile({ ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8),
      /Unsupported dtype "I64" of tensor "ids" in "f": only F32, F16, BF16 are supported/,
    ],
    [
      "bad shape",
      rawFile({ t: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4),
      /Invalid shape \[-1\] of tensor "t" in "f"/,
    ],
    [
      "bad offsets",
      rawFile({ t: { dtype: "F32", shape: [1], data_offsets: [0] } }, 4),
      /Invalid data_offsets \[0\] of tensor "t" in "f"/,
    ],
    [
      "offsets out of range",
      rawFile({ t: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 8),
      /Data offsets \[4, 12\] of tensor "t" in "f" are out of range: the data section has 8 bytes/,
    ],
    [
      "start after end",
      rawFile({ t: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, 8),
      /Data offsets \[4, 0\] of tensor "t" in "f" are out of range/,
    ],
    [
      "overlapping",
      rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, 12),
      /Tensor "b" in "f" overlaps "a": data offsets \[4, 12\] and \[0, 8\]/,
    ],
    [
      "byte count differs from shape",
      rawFile({ t: { dtype: "BF16", shape: [2, 3], data_offsets: [0, 8] } }, 8),
      /Tensor "t" in "f" has 8 bytes, but shape \[2, 3\] of BF16 needs 12/,
    ],
    [
      "bad metadata",
      rawFile({ __metadata__: { n: 1 } }, 0),
      /Invalid __metadata__ \{"n":1\} in "f": expected string values/,
    ],
  ];
  for (const [label, bytes, pattern] of cases) {
    assert.throws(() => parseSafetensors(bytes, "f"), pattern, label);
  }
});

Deno.test("golden PyTorch-written tiny models: shapes, and bf16 equals f32 rounded", async () => {
  const f32 = parseSafetensors(
    await Deno.readFile(new URL("tiny-f32/model.safetensors", GOLDEN)),
    "tiny-f32/model.safetensors",
  );
  const bf16 = parseSafetensors(
    await Deno.readFile(new URL("tiny-bf16/model.safetensors", GOLDEN)),
    "tiny-bf16/model.safetensors",
  );
  assert.deepEqual(f32.metadata, { format: "pt" });
  // D 64, I 160, H 4 × HD 16, KV 2, V 384, two layers, tied embeddings: 3 + 2 × 9 tensors.
  const expected = new Map<string, number[]>([
    ["model.embed_tokens.weight", [384, 64]],
    ["model.norm.weight", [64]],
  ]);
  for (const i of [0, 1]) {
    const p = `model.layers.${i}.`;
    expected.set(`${p}input_layernorm.weight`, [64]);
    expected.set(`${p}post_attention_layernorm.weight`, [64]);
    expected.set(`${p}self_attn.q_proj.weight`, [64, 64]);
    expected.set(`${p}self_attn.k_proj.weight`, [32, 64]);
    expected.set(`${p}self_attn.v_proj.weight`, [32, 64]);
    expected.set(`${p}self_attn.o_proj.weight`, [64, 64]);
    expected.set(`${p}mlp.gate_proj.weight`, [160, 64]);
    expected.set(`${p}mlp.up_proj.weight`, [160, 64]);
    expected.set(`${p}mlp.down_proj.weight`, [64, 160]);
  }
  for (const file of [f32, bf16]) {
    assert.equal(file.tensors.size, expected.size);
    for (const [name, shape] of expected) {
      assert.deepEqual(file.tensors.get(name)?.shape, shape, name);
    }
  }
  for (const [name, entry] of f32.tensors) {
    assert.equal(entry.dtype, "F32");
    const b = bf16.tensors.get(name)!;
    assert.equal(b.dtype, "BF16");
    const values = entryToF32(entry);
    assert.ok(values.some((v) => v !== 0), `${name} is all zeros`);
    assert.deepEqual(new Uint16Array(b.bytes.slice().buffer), f32ToBf16Bits(values), name);
  }
});
