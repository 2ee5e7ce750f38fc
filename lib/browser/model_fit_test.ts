import assert from "node:assert/strict";
import { estimateInference } from "../estimate/estimate_memory.ts";
import { createFixtureModel, fixtureConfig } from "../fixtures/fixture_model.ts";
import { parseModelConfig } from "../model/config.ts";
import { resolveLoraConfig } from "../lora/lora_config.ts";
import { checkModelFit } from "./model_fit.ts";

const GiB = 2 ** 30;

Deno.test("checkModelFit compares the estimator's bytes with the budget", () => {
  const qwen = parseModelConfig(fixtureConfig({ preset: "qwen3-0.6b" }));
  const options = { maxBindingBytes: GiB, maxContext: 2048 };
  const fit = checkModelFit(qwen, { ...options, budgetBytes: 1 * GiB });
  const expected = estimateInference(qwen, {
    maxContext: 2048,
    maxBindingBytes: GiB,
    lora: resolveLoraConfig(),
  }).total;
  assert.equal(fit.inferenceBytes, expected);
  assert.ok(fit.trainingBytes > fit.inferenceBytes / 2);
  assert.equal(fit.fitsInference, false);
  assert.match(
    fit.message,
    /^The model does not fit: it needs 1\.\d\d GiB to generate and .* 1\.00 GiB$/,
  );

  const between = checkModelFit(qwen, { ...options, budgetBytes: fit.inferenceBytes });
  assert.equal(between.fitsInference, true); // the budget is exactly the need
  assert.equal(between.fitsTraining, fit.trainingBytes <= fit.inferenceBytes);

  const tiny = parseModelConfig(
    JSON.parse(new TextDecoder().decode(createFixtureModel().get("config.json"))),
  );
  const small = checkModelFit(tiny, { ...options, budgetBytes: GiB });
  assert.deepEqual([small.fitsInference, small.fitsTraining], [true, true]);
  assert.match(
    small.message,
    /^The model fits: it needs \d+\.\d MiB to generate and \d+\.\d MiB to train, within 1\.00 GiB$/,
  );
});
