import assert from "node:assert/strict";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { writeModelFiles } from "../lib/format/fs_model_source.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { gpuTest } from "../tests/_gpu.ts";
import { EndToEnd } from "./_end_to_end.ts";
import { compareLogits, runTorchPeer } from "./_torch_peer.ts";

const PYTHON = "/usr/bin/python3";
const torchPresent = await new Deno.Command(PYTHON, { args: ["-c", "import torch"] }).output()
  .then((r) => r.success, () => false);

Deno.test("compareLogits measures the relative error, the largest difference and the argmax", () => {
  const agreement = compareLogits(new Float32Array([1, 2, 5]), new Float32Array([1, 4, 4]));
  assert.ok(Math.abs(agreement.relativeError - Math.sqrt(5 / 33)) < 1e-7);
  assert.equal(agreement.maxAbsDiff, 2);
  assert.equal(agreement.sameArgmax, false);
  assert.throws(() => compareLogits(new Float32Array(2), new Float32Array(3)), /2 and 3 entries/);
});

// The benchmark's peer, on a sharded f32 fixture, against our engine: the same logits. PyTorch
// is a benchmark dependency only: where it is missing the test shows as ignored.
const PEER_TEST = "the PyTorch peer reads a sharded f32 fixture and computes our logits";
if (!torchPresent) Deno.test({ name: PEER_TEST, ignore: true, fn() {} });
else {gpuTest(PEER_TEST, async (gpu) => {
    const dir = await Deno.makeTempDir({ prefix: "torch-peer-" });
    try {
      const files = createFixtureModel({ preset: "tiny", dtype: "F32", shardBytes: 200_000 });
      assert.ok(files.has("model.safetensors.index.json"), "the fixture is sharded");
      await writeModelFiles(dir, files);
      const plan = { promptTokens: 12, decodeTokens: 2, batchSize: 1, seqLen: 8, rank: 4 };
      const e2e = await EndToEnd.open(gpu, memoryModelSource("tiny", files), plan);
      try {
        const peer = await runTorchPeer({
          model: dir,
          prompt: e2e.promptIds,
          decodeTokens: plan.decodeTokens,
          trainIds: e2e.trainingIds[0],
          rank: plan.rank,
          alpha: 2 * plan.rank,
          dropout: 0,
          repeat: 1,
        }, PYTHON);
        if ("error" in peer) throw new Error(peer.error);
        const agreement = compareLogits(await e2e.promptLogits(), peer.promptLogits);
        assert.ok(agreement.relativeError < 1e-4, JSON.stringify(agreement));
        assert.ok(agreement.sameArgmax);
        // LoRA B starts at zero, so the first step's loss is the base model's cross-entropy.
        assert.ok(peer.trainLoss > 0 && Number.isFinite(peer.trainLoss));
      } finally {
        e2e.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });}
