/**
 * The TypeScript reference Llama + LoRA against the PyTorch golden values of tests/golden/
 * (see its README.md): logits without and with the adapter, the batch loss, its label-token
 * count and every LoRA gradient, for the f32 and the bf16 checkpoint.
 *
 * What the bf16 golden values are (found by these tests): the PyTorch model computed in f32
 * on the bf16-rounded weights — bf16 weights widened exactly to f32, then f32 activations and
 * f32 RoPE tables. Run that way, the reference matches the bf16 golden values as closely as the
 * f32 ones (measured: logits within 3.6e-7 of the largest logit, loss within 4e-9 relative,
 * gradients within 1.5e-6 of each tensor's largest value; f32: 3.6e-7, 2e-8, 1.6e-6). bf16
 * compute is ruled out: rounding only the final logits to bf16 already moves them by 3e-3 of
 * the largest logit. The last test checks that the bf16 golden values do depend on the
 * rounding: the f32 weights miss them by 4.8e-3 of the largest logit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseModelConfig } from "../lib/model/config.ts";
import { loraScale } from "../lib/reference/lora.ts";
import {
  referenceLogits,
  type ReferenceLora,
  referenceLossAndGrads,
  type ReferenceWeights,
} from "../lib/reference/model.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { GOLDEN_MODELS, goldenExpected, readGoldenJson, readGoldenTensors } from "./_golden.ts";

const config = parseModelConfig(await readGoldenJson("tiny-f32/config.json"));
const weightsF32: ReferenceWeights = await readGoldenTensors("tiny-f32/model.safetensors");
const weightsBf16: ReferenceWeights = await readGoldenTensors("tiny-bf16/model.safetensors");
const adapterConfig = await readGoldenJson("adapter-r4/adapter_config.json") as {
  r: number;
  lora_alpha: number;
  use_rslora: boolean;
};
const lora: ReferenceLora = {
  scale: loraScale(adapterConfig.lora_alpha, adapterConfig.r, adapterConfig.use_rslora),
  tensors: await readGoldenTensors("adapter-r4/adapter_model.safetensors"),
};
const expectedF32 = await goldenExpected("f32");
const expectedBf16 = await goldenExpected("bf16");

/** Logits agree within 1e-4 of the largest expected logit. */
function assertLogits(actual: Float32Array, expected: number[], label: string): void {
  assertClose(actual, expected, { atol: 1e-4 * maxAbs(expected), rtol: 0, label });
}

for (
  const [dtype, weights, expected] of [
    ["f32", weightsF32, expectedF32],
    ["bf16", weightsBf16, expectedBf16],
  ] as const
) {
  Deno.test(`reference logits of the ${dtype} golden model match PyTorch`, () => {
    assertLogits(referenceLogits(config, weights, expected.ids), expected.logits_base, "base");
  });

  Deno.test(`reference logits with the adapter (${dtype}) match PyTorch`, () => {
    const logits = referenceLogits(config, weights, expected.ids, lora);
    assertLogits(logits, expected.logits_with_adapter, "with adapter");
    // The adapter must move the logits by more than the tolerance, or the check means nothing.
    const shift = maxAbs(expected.logits_with_adapter.map((v, i) => v - expected.logits_base[i]));
    assert.ok(shift > 100 * 1e-4 * maxAbs(expected.logits_base), `adapter shift ${shift}`);
  });

  Deno.test(`reference loss and LoRA gradients (${dtype}) match PyTorch`, () => {
    const batch = expected.batch.map((r) => ({ inputIds: r.input_ids, labels: r.labels }));
    const { loss, labelTokens, grads } = referenceLossAndGrads(config, weights, batch, lora);
    assert.equal(labelTokens, expected.label_tokens);
    assertClose([loss], [expected.loss_with_adapter], { rtol: 1e-5, atol: 0, label: "loss" });
    assert.deepEqual([...grads.keys()].sort(), Object.keys(expected.lora_grads).sort());
    for (const [key, want] of Object.entries(expected.lora_grads)) {
      assertClose(grads.get(key)!, want, { atol: 1e-3 * maxAbs(want), rtol: 0, label: key });
    }
  });
}

for (const name of ["qwen2-bf16", "qwen3-bf16"] as const) {
  const { model, adapter } = GOLDEN_MODELS[name];
  const familyConfig = parseModelConfig(await readGoldenJson(`${model}/config.json`));
  const weights: ReferenceWeights = await readGoldenTensors(`${model}/model.safetensors`);
  const familyLora: ReferenceLora = {
    scale: 2, // r 4, alpha 8 (the golden README)
    tensors: await readGoldenTensors(`${adapter}/adapter_model.safetensors`),
  };
  const expected = await goldenExpected(name);

  Deno.test(`reference logits of the ${name} golden model match PyTorch, without and with the adapter`, () => {
    assertLogits(
      referenceLogits(familyConfig, weights, expected.ids),
      expected.logits_base,
      "base",
    );
    const adapted = referenceLogits(familyConfig, weights, expected.ids, familyLora);
    assertLogits(adapted, expected.logits_with_adapter, "with adapter");
  });

  Deno.test(`reference loss and LoRA gradients (${name}) match PyTorch`, () => {
    const batch = expected.batch.map((r) => ({ inputIds: r.input_ids, labels: r.labels }));
    const result = referenceLossAndGrads(familyConfig, weights, batch, familyLora);
    assert.equal(result.labelTokens, expected.label_tokens);
    assertClose([result.loss], [expected.loss_with_adapter], {
      rtol: 1e-5,
      atol: 0,
      label: "loss",
    });
    assert.equal(result.grads.size, 28);
    for (const [key, want] of Object.entries(expected.lora_grads)) {
      assertClose(result.grads.get(key)!, want, { atol: 1e-3 * maxAbs(want), rtol: 0, label: key });
    }
  });
}

Deno.test("the bf16 golden values come from bf16-rounded weights, not the f32 ones", () => {
  const fromF32 = referenceLogits(config, weightsF32, expectedBf16.ids);
  const miss = maxAbs(fromF32.map((v, i) => v - expectedBf16.logits_base[i]));
  assert.ok(
    miss > 10 * 1e-4 * maxAbs(expectedBf16.logits_base),
    `f32 weights reproduce the bf16 golden logits to ${miss}: the bf16 test would prove nothing`,
  );
});
