/**
 * The cluster end to end with real processes (issue 17, "done when" 2, 3, 6 and 4, in that
 * order on one cluster): one nats-server, three replicas and two workers, each a separate
 * `server/main.ts` process on the tiny fixture. Assertions are on behaviour; the timings are
 * printed (and measured properly by `benchmarks/cluster.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { memoryModelSource, readPeftAdapter } from "../../mod.ts";
import { loadFixtureModel } from "../../server/_test_fixture.ts";
import { natsTest } from "./_nats_test_server.ts";
import {
  expectedText,
  replicaKill,
  revisionReach,
  startTestCluster,
  submitJob,
  trainedAdapterReach,
  zipfNames,
  zipfTraffic,
} from "./_cluster_scenarios.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

natsTest(
  "three replicas and two workers: trained adapters, revisions, Zipf routing, a replica killed",
  async () => {
    const model = await loadFixtureModel("webgpu");
    const c = await startTestCluster({
      replicas: 3,
      workers: 2,
      workerFlags: ["--checkpoint-every", "2"],
    });
    try {
      // 2: trained through r1's API, served by r2 and r3 (asked nothing but completions).
      const reach = await trainedAdapterReach(c, "trained");
      assert.equal(reach.job.status, "succeeded", JSON.stringify(reach.job.error));
      assert.equal(reach.job.fine_tuned_model, "trained");
      const stored = await c.adapters.files((await c.adapters.get("trained"))!);
      const trained = await readPeftAdapter(memoryModelSource("trained", stored), model.config);
      const text = await expectedText(model, trained);
      assert.deepEqual(reach.served.map((s) => [s.replica, s.text]), [["r2", text], ["r3", text]]);
      console.log(`2: served by r2, r3 ${reach.served.map((s) => s.ms).join(", ")} ms after`);

      // Idempotency-Key: a repeated POST, to another replica, gives the first job.
      const first = await (await submitJob(c.replicas[0].url(), "once", 2, "key-1")).json();
      const again = await (await submitJob(c.replicas[1].url(), "once", 2, "key-1")).json();
      assert.equal(again.id, first.id);
      const listed = await (await fetch(`${c.replicas[2].url()}/v1/fine_tuning/jobs`)).json();
      assert.equal(listed.data.filter((j: { id: string }) => j.id === first.id).length, 1);

      // Jobs, events and files through any replica; what a cluster does not do is a clear error.
      const [r1, r2, r3] = c.replicas.map((r) => r.url());
      const stream = await (await fetch(
        `${r3}/v1/fine_tuning/jobs/${reach.job.id}/events?stream=true`,
      )).text();
      assert.match(stream, /successfully completed: model trained \(revision 1\)[\s\S]*\[DONE\]/);
      const resume = await fetch(`${r2}/v1/fine_tuning/jobs/${reach.job.id}/resume`, {
        method: "POST",
      });
      assert.equal(resume.status, 409);
      assert.equal((await resume.json()).error.code, "job_not_paused");
      const missing = await fetch(`${r2}/v1/fine_tuning/jobs/ftjob-none`);
      assert.equal((await missing.json()).error.code, "job_not_found");
      const bad = await fetch(`${r1}/v1/fine_tuning/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", training_data: "[{" }),
      });
      assert.equal(bad.status, 400);
      const form = new FormData();
      form.set("purpose", "fine-tune");
      form.set("file", new File(['{"instruction":"a","output":"b"}\n'], "data.jsonl"));
      const uploaded = await (await fetch(`${r1}/v1/files`, { method: "POST", body: form })).json();
      const content = await fetch(`${r3}/v1/files/${uploaded.id}/content`);
      assert.equal(await content.text(), '{"instruction":"a","output":"b"}\n');

      // 3: two revisions, each served by every replica.
      const revisions = await revisionReach(c, model, "rev", 2, 11);
      assert.deepEqual(revisions.map((r) => [r.revision, r.ms.length]), [[1, 3], [2, 3]]);
      console.log(`3: revisions served by all after ${revisions.map((r) => r.ms.join("/"))} ms`);

      // 6: ten adapters, Zipf traffic over the three replicas, after warm-up.
      const zipf = await zipfTraffic(c, model, 10, 60, 5);
      assert.equal(zipf.failures, 0);
      assert.ok(zipf.resident >= 0.9 * zipf.requests, JSON.stringify(zipf));
      assert.ok(zipf.loads < 10, `fewer loads than adapters after warm-up: ${zipf.loads}`);
      assert.ok(Object.keys(zipf.perReplica).length > 1, "served by more than one replica");
      console.log(`6: ${JSON.stringify(zipf)}`);

      // 4: r3 killed; requests to r1 and r2 (for r3's adapter too) go on succeeding.
      const kill = await replicaKill(c, model, zipfNames(4), 3000);
      const late = kill.requests.filter((r) => r.at >= 1000);
      assert.ok(late.length > 0);
      assert.deepEqual(late.filter((r) => !r.ok), []);
      assert.ok(late.some((r) => r.name === "solo"), "the killed replica's adapter was asked for");
      const early = kill.requests.filter((r) => r.at < 1000);
      console.log(
        `4: ${early.filter((r) => !r.ok).length}/${early.length} failed in the first second, ` +
          `${late.length} after; r3's adapter served ${Math.round(kill.soloServedMs)} ms after`,
      );
    } finally {
      await c.kill();
      model.dispose();
      await Deno.remove(c.root, { recursive: true });
    }
  },
  gpuMissing,
);
