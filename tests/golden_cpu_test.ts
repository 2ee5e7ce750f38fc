/**
 * The CPU engine against the PyTorch golden values (tests/golden/README.md) for every family:
 * logits without and with the PEFT adapter, and KV-cache decode equal to the full forward.
 *
 * @module
 */
import { entryToF32 } from "../lib/format/safetensors.ts";
import { CpuEngine } from "../lib/model/cpu_engine.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";

for (const name of ["f32", "bf16", "qwen2-bf16", "qwen3-bf16"] as const) {
  const { expected, checkpoint, adapter } = await goldenCase(name);
  const weights = new Map([...checkpoint.tensors].map(([key, e]) => [key, entryToF32(e)]));

  Deno.test(`CPU logits of the ${name} golden model match PyTorch, without and with the adapter`, async () => {
    const engine = new CpuEngine(checkpoint.config, weights, { maxContext: 32 });
    const tol = (values: number[]) => ({ atol: 1e-4 * maxAbs(values), rtol: 0 });
    const base = await engine.logits(expected.ids);
    assertClose(base, expected.logits_base, { ...tol(expected.logits_base), label: "base" });
    engine.setAdapter(engine.createAdapter(adapter));
    const adapted = await engine.logits(expected.ids);
    assertClose(adapted, expected.logits_with_adapter, {
      ...tol(expected.logits_with_adapter),
      label: "adapter",
    });
  });

  Deno.test(`CPU KV-cache decode of the ${name} golden model equals the full forward`, async () => {
    const engine = new CpuEngine(checkpoint.config, weights, { maxContext: 16 });
    const V = checkpoint.config.vocabSize, ids = expected.ids;
    const full = await engine.logits(ids);
    const row = (t: number) => full.subarray(t * V, (t + 1) * V);
    const tol = { atol: 1e-5 * maxAbs(full), rtol: 1e-4 };
    assertClose(await engine.prefill(ids.slice(0, 5)), row(4), { ...tol, label: "prefill" });
    for (let t = 5; t < ids.length; t++) {
      assertClose(await engine.decode(ids[t]), row(t), { ...tol, label: `decode ${t}` });
    }
  });
}
