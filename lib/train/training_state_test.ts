import assert from "node:assert/strict";
import { fixtureConfig } from "../fixtures/fixture_model.ts";
import { parseModelConfig } from "../model/config.ts";
import { resolveLoraConfig } from "../lora/lora_config.ts";
import { initLoraWeights } from "../lora/lora_weights.ts";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, MODEL_CARD } from "../lora/peft_files.ts";
import { memoryModelSource } from "../format/model_source.ts";
import {
  OPTIMIZER_FILE,
  readTrainingState,
  serializeTrainingState,
  STATE_FILE,
  type TrainingState,
} from "./training_state.ts";

const model = parseModelConfig(fixtureConfig());
const lora = resolveLoraConfig({ r: 2, targetModules: ["q_proj", "down_proj"] });
const adapter = initLoraWeights(model, lora, 5);
const slot = (seed: number) =>
  new Map(
    [...initLoraWeights(model, lora, seed).tensors].map(([k, v]) => [k, v.map((x) => x * x)]),
  );
const state: TrainingState = {
  step: 7,
  adapter,
  optimizer: [slot(6), slot(7)],
  seed: 42,
  fingerprint: '{"lora":"x"}',
  losses: [{ step: 1, loss: 3.5 }, { step: 2, loss: 3.25 }, { step: 3, loss: 2.125 }],
};
const files = serializeTrainingState(state, model, "fixture/tiny");

Deno.test("a checkpoint holds the PEFT adapter with its model card, the optimizer state and the step file", () => {
  assert.deepEqual(
    [...files.keys()].sort(),
    [ADAPTER_CONFIG, ADAPTER_WEIGHTS, MODEL_CARD, OPTIMIZER_FILE, STATE_FILE].sort(),
  );
  const meta = JSON.parse(new TextDecoder().decode(files.get(STATE_FILE)));
  assert.deepEqual(meta, {
    step: 7,
    seed: 42,
    fingerprint: '{"lora":"x"}',
    optimizer_slots: 2,
    losses: [{ step: 1, loss: 3.5 }, { step: 2, loss: 3.25 }, { step: 3, loss: 2.125 }],
  });
});

Deno.test("serialize → read gives back the same state, bit for bit", async () => {
  const read = await readTrainingState(memoryModelSource("ckpt", files), model);
  assert.deepEqual(read, state);
});

Deno.test("a damaged checkpoint names what is wrong", async () => {
  const broken = new Map(files);
  broken.set(STATE_FILE, new TextEncoder().encode('{"step": -1}'));
  await assert.rejects(
    readTrainingState(memoryModelSource("ckpt", broken), model),
    /Invalid trainer_state.json in checkpoint "ckpt"/,
  );
  const lacking = new Map(files);
  lacking.set(
    OPTIMIZER_FILE,
    serializeTrainingState({ ...state, optimizer: [slot(6)] }, model, "x").get(OPTIMIZER_FILE)!,
  );
  await assert.rejects(
    readTrainingState(memoryModelSource("ckpt", lacking), model),
    /Checkpoint "ckpt" lacks optimizer state 1\.base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight/,
  );
});
