/**
 * A restart of the whole cluster (issue 17, "done when" 7), with real processes: nats-server on
 * file storage, two replicas and a worker are all killed with SIGKILL while a job runs (past a
 * checkpoint) and another waits in the queue; started again on the same store (and with the
 * replicas' adapters folders gone), the jobs and the adapter are all there, the running job
 * resumes from its checkpoint instead of failing, and the queued one runs. One worker, so that
 * the second job is still queued at the kill.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { loadFixtureModel } from "../../server/_test_fixture.ts";
import { natsTest } from "./_nats_test_server.ts";
import { wholeRestart } from "./_cluster_scenarios.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";
const STEPS = 60; // long enough that the kill lands mid-job on an idle machine

natsTest(
  "a whole-cluster restart keeps jobs, adapters and queued work; a running job resumes",
  async () => {
    const model = await loadFixtureModel("webgpu");
    try {
      const r = await wholeRestart(model, STEPS);
      assert.equal(r.queuedBefore, "queued");
      assert.deepEqual(r.jobsAfter.sort(), [r.running, r.queued].sort());
      assert.ok(r.modelsAfter.includes("kept"), JSON.stringify(r.modelsAfter));
      assert.equal(r.kept.served, r.kept.expected);
      assert.deepEqual(r.finished.map((j) => [j.id, j.status]), [
        [r.running, "succeeded"],
        [r.queued, "succeeded"],
      ]);
      assert.ok(r.events.some((e) => /resumed from step \d+ \(attempt 2\)/.test(e.message)));
      const steps = r.events.filter((e) => e.type === "metrics").map((e) => e.data!.step);
      assert.deepEqual(steps, Array.from({ length: STEPS }, (_, i) => i + 1), "each step once");
      console.log(
        `7: the running job resumed ${Math.round(r.resumedMs)} ms after the restart began; ` +
          `both jobs done after ${Math.round(r.finishedMs)} ms`,
      );
    } finally {
      model.dispose();
    }
  },
  gpuMissing,
);
