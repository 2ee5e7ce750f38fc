/**
 * Evaluation on the GPU (the eval command's and training validation's loss): the mean loss
 * over label tokens equals the reference's, without and with an adapter, for any batch size,
 * and LoRA dropout is off when evaluating.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loraScaleOf, resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { referenceLossAndGrads } from "../lib/reference/model.ts";
import { IGNORE, type TokenizedExample } from "../lib/train/batch.ts";
import { evaluateModel } from "../lib/train/evaluate.ts";
import { trainLora } from "../lib/train/train_lora.ts";
import { assertClose } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter, referenceWeights } from "./_lora_fixture.ts";

const X = IGNORE;
const examples: TokenizedExample[] = [
  { inputIds: [507, 80, 81, 82, 300, 301, 508], labels: [X, X, X, X, 300, 301, 508] },
  { inputIds: [507, 12, 508], labels: [507, 12, 508] },
  { inputIds: [507, 5, 6, 7, 8, 9, 10, 11, 200, 508], labels: [X, X, X, X, X, X, X, X, 200, 508] },
];

gpuTest(
  "evaluation loss equals the reference's, with and without an adapter, dropout off",
  async (gpu) => {
    const { model, files } = await loadFixture(gpu, { dtype: "BF16", seed: 13 });
    const weights = await referenceWeights(files);
    const lora = resolveLoraConfig({
      r: 4,
      alpha: 8,
      dropout: 0,
      targetModules: ["q_proj", "v_proj", "up_proj"],
    });
    const adapter = randomAdapter(model.config, lora, 6);
    const base = referenceLossAndGrads(model.config, weights, examples, {
      scale: 0,
      tensors: new Map(),
    });
    const adapted = referenceLossAndGrads(model.config, weights, examples, {
      scale: loraScaleOf(lora),
      tensors: adapter.tensors,
    });
    assert.ok(Math.abs(base.loss - adapted.loss) > 1e-3, "the adapter changes the loss");

    const plain = await evaluateModel(model, examples);
    assert.equal(plain.tokens, base.labelTokens);
    assertClose([plain.loss], [base.loss], { atol: 0, rtol: 1e-5, label: "base loss" });
    assertClose([plain.perplexity], [Math.exp(base.loss)], {
      atol: 0,
      rtol: 1e-5,
      label: "perplexity",
    });

    for (const batchSize of [1, 2, 3]) {
      const result = await evaluateModel(model, examples, { adapter, batchSize });
      assertClose([result.loss], [adapted.loss], {
        atol: 0,
        rtol: 1e-5,
        label: `batch ${batchSize}`,
      });
    }
    const withDropout = { config: { ...lora, dropout: 0.5 }, tensors: adapter.tensors };
    const dropped = await evaluateModel(model, examples, { adapter: withDropout, batchSize: 3 });
    assertClose([dropped.loss], [adapted.loss], { atol: 0, rtol: 1e-5, label: "dropout off" });

    await assert.rejects(evaluateModel(model, []), /No examples to evaluate/);
    await assert.rejects(
      evaluateModel(model, examples, { batchSize: 0 }),
      /batchSize 0 must be a positive integer/,
    );
    // The dropout masks and data order hash 32-bit seeds: a larger one is refused, not cut.
    await assert.rejects(
      trainLora(model, examples, { seed: 2 ** 32 }).next(),
      /Training seed must be an integer in \[0, 2\^32\)/,
    );
    model.dispose();
  },
);
