// Tests of timeRepeated and timeRecorded: how many repetitions they run and submit. No
// assertion depends on how fast anything ran.
import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { timeRecorded, timeRepeated } from "../lib/gpu/time_recorded.ts";
import type { CommandRecorder } from "../lib/gpu/recorder.ts";

Deno.test("timeRepeated measures the floor, then grows reps up to maxReps", async () => {
  const runs: number[] = [];
  const timing = await timeRepeated(async (reps) => {
    runs.push(reps);
    await Promise.resolve();
  }, { minSeconds: 1e9, maxReps: 40 });
  // Three empty runs, then 1, then 2× to 16× more a round, the last capped at 40.
  assert.deepEqual(runs, [0, 0, 0, 1, 16, 40]);
  assert.equal(timing.reps, 40);
  assert.ok(timing.seconds >= 0 && timing.floorSeconds >= 0);
});

gpuTest("timeRecorded records once to build pipelines, then reps per submit", async (gpu) => {
  const buffer = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
  let calls = 0;
  const recorders = new Set<CommandRecorder>();
  const record = (rec: CommandRecorder) => {
    calls++;
    recorders.add(rec);
    rec.clear(buffer);
  };
  const timing = await timeRecorded(gpu, record, { minSeconds: 1e9, maxReps: 2 });
  assert.equal(timing.reps, 2);
  assert.equal(calls, 1 + 1 + 2, "once to prepare, then runs of 1 and 2");
  assert.equal(recorders.size, 1, "one recorder for the whole timing");
  buffer.destroy();
});
