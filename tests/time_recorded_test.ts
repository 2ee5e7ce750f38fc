// Tests of timeRecorded: how many repetitions it records and submits. No assertion depends on
// how fast anything ran.
import assert from "node:assert/strict";
import { gpuTest } from "./_gpu.ts";
import { timeRecorded } from "../lib/gpu/time_recorded.ts";
import type { CommandRecorder } from "../lib/gpu/recorder.ts";

gpuTest(
  "timeRecorded records the work once to warm up, then reps times in one submit",
  async (gpu) => {
    const buffer = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
    let calls = 0;
    const recorders = new Set<CommandRecorder>();
    const record = (rec: CommandRecorder) => {
      calls++;
      recorders.add(rec);
      rec.clear(buffer);
    };
    const capped = await timeRecorded(gpu, record, { minSeconds: 1e9, maxReps: 1 });
    assert.equal(capped.reps, 1);
    assert.equal(calls, 2, "one warm-up and one timed repetition");
    assert.ok(capped.seconds >= 0 && capped.floorSeconds > 0);

    calls = 0;
    const grown = await timeRecorded(gpu, record, { minSeconds: 1e9, maxReps: 40 });
    assert.equal(grown.reps, 40, "reps grow up to maxReps while the run is too short");
    // 1 warm-up, then rounds of 1, 2..16× as many, the last one capped at 40.
    assert.ok(calls > 1 + 40 && calls <= 1 + 1 + 16 + 40, `${calls} calls`);
    assert.equal(recorders.size, 2, "one recorder per call");
    buffer.destroy();
  },
);
